// The JSON Schema (draft 2020-12) of a definition, generated from the level keys and the module
// specs. `psos schema` prints it; schema/psos-definition.schema.json is its committed copy, which
// editors use to check and complete definitions.
#pragma once

#include <string>

#include "modules/spec.hpp"

namespace psos::system {

// The schema as pretty-printed JSON with a final newline: the committed file's exact content.
std::string definition_schema(const modules::ModuleCatalog& modules);

}  // namespace psos::system
