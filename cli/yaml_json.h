/* yaml_json.h - a small YAML document as jansson values (for test files). */
#ifndef AA_YAML_JSON_H
#define AA_YAML_JSON_H

#include <stddef.h>

#include <jansson.h>

/* Loads the first document of a YAML file. Mappings carry "__line__".
 * NULL with msg set ("file:line:col: what") on failure. */
json_t *yaml_json_load(const char *path, char *msg, size_t msglen);

#endif
