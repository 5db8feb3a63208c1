// A function's arguments checked against their specs (modules::FunctionSpec::args) the way
// `psos check` checks a service's parameters, with the same messages: a call gets the errors a
// definition would.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "modules/spec.hpp"

namespace psos::system {

struct CheckedArguments {
  nlohmann::json values;            // normalized, defaults filled in (when `errors` is empty)
  std::vector<std::string> errors;  // "n: expected an integer, found the string \"x\""
  bool ok() const { return errors.empty(); }
};

// `args` must be an object (null counts as {}); `owner` names whose arguments they are in
// messages ("of function read").
CheckedArguments check_arguments(const std::vector<modules::ParamSpec>& specs,
                                 const nlohmann::json& args, const std::string& owner);

// A call's arguments: checked against the function's `args` (messages say "of function NAME"),
// or, for a function that takes any object (FunctionSpec::any_args), only for forming one.
CheckedArguments check_arguments(const modules::FunctionSpec& function, const nlohmann::json& args);

}  // namespace psos::system
