/* quantity: validation of Kubernetes resource quantities (k8s.io/apimachinery resource). */
#include "core/quantity.h"

#include <ctype.h>
#include <string.h>

static const char *const suffixes[] = {"Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u",
                                       "m",  "",   "k",  "M",  "G",  "T",  "P", "E"};

static bool valid_suffix(const char *s)
{
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
        if (strcmp(s, suffixes[i]) == 0)
            return true;
    if (*s != 'e' && *s != 'E')
        return false;
    s++;
    if (*s == '+' || *s == '-')
        s++;
    if (!isdigit((unsigned char)*s))
        return false;
    while (isdigit((unsigned char)*s))
        s++;
    return *s == '\0';
}

bool quantity_is_valid(const char *s)
{
    if (!s || strlen(s) > 64)
        return false;
    if (*s == '+')
        s++;
    size_t digits = 0, dots = 0;
    for (; isdigit((unsigned char)*s) || *s == '.'; s++) {
        if (*s == '.')
            dots++;
        else
            digits++;
    }
    return digits > 0 && dots <= 1 && valid_suffix(s);
}
