/* Pulls in the generated C header from the repository's include/ directory. */
#include "../../../../../include/glance.h"
