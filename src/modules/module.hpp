// A module is one entry: its spec (parameters, own checks, capabilities, functions) and its
// coroutine. Each module file defines one `Module NAME_module()`; registry.cpp lists them.
#pragma once

#include <string_view>
#include <vector>

#include "modules/context.hpp"
#include "modules/spec.hpp"

namespace psos::modules {

struct Module {
  ModuleSpec spec;
  Run run = nullptr;
};

// Every built-in module, in the order `psos modules` lists them.
const std::vector<Module>& builtin_modules();
const Module* find_builtin(std::string_view name);
// The built-in modules' specs, for checking definitions (system/ sees only specs).
const ModuleCatalog& builtin_catalog();

}  // namespace psos::modules
