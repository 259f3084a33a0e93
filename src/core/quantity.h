/* quantity: Kubernetes resource quantity syntax ("100m", "64Mi", "1.5", "2e3"). */
#ifndef CORE_QUANTITY_H
#define CORE_QUANTITY_H

#include <stdbool.h>

/* True when |s| is a non-negative Kubernetes quantity: a decimal number followed by a binary
 * SI suffix (Ki Mi Gi Ti Pi Ei), a decimal SI suffix (n u m k M G T P E) or an exponent. */
bool quantity_is_valid(const char *s);

#endif
