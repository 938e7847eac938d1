#include "agent_auth.h"
#include <stdio.h>
int main(void) { printf("agent-auth %s\n", aa_version()); return 0; }
