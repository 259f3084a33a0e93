/* registry: the job types this build serves. Adding a type adds one line here. */
#include <string.h>

#include "jobs/job_type.h"

static const struct job_type *const registry[] = {
    &timer_job_type,
};

#define NTYPES (sizeof(registry) / sizeof(registry[0]))

const struct job_type *job_type_for_case(int oneof_case)
{
    for (size_t i = 0; i < NTYPES; i++)
        if (registry[i]->oneof_case == oneof_case)
            return registry[i];
    return NULL;
}

const struct job_type *job_type_by_name(const char *name)
{
    for (size_t i = 0; i < NTYPES; i++)
        if (strcmp(registry[i]->name, name) == 0)
            return registry[i];
    return NULL;
}

const char *job_type_fields(void)
{
    static char fields[256];
    if (!fields[0]) {
        for (size_t i = 0; i < NTYPES; i++) {
            if (i)
                strncat(fields, ", ", sizeof(fields) - strlen(fields) - 1);
            strncat(fields, registry[i]->field, sizeof(fields) - strlen(fields) - 1);
        }
    }
    return fields;
}
