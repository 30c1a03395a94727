// libyaml's event parser: the service reads its --config file as a stream of events, so no document tree of a
// large file is ever built. Only ResubService's YAMLEventReader imports this module.
#include <stdio.h>
#include <yaml.h>
