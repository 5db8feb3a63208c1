// Arguments checked like parameters (see arguments.hpp).
#include "system/arguments.hpp"

#include "system/checker.hpp"

namespace psos::system {

CheckedArguments check_arguments(const std::vector<modules::ParamSpec>& specs,
                                 const nlohmann::json& args, const std::string& owner) {
  CheckedArguments result;
  const nlohmann::json object = args.is_null() ? nlohmann::json::object() : args;
  // The checker reports at positions in a document: the arguments become one. Text that is not
  // UTF-8 (a Lua string can be anything) is replaced rather than refused by dump().
  JsonReadResult read =
      read_json(object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (!read.document) {
    result.errors.push_back("the arguments are not JSON");
    return result;
  }
  Diagnostics found;
  const Secrets secrets;
  Checker checker(*read.document, "args", secrets, found);
  std::optional<nlohmann::json> checked =
      checker.object(specs, read.document->root(), "", Scope{},
                     {.words = {"argument", owner.empty() ? "" : " " + owner}});
  if (!checked && found.empty())
    found.push_back(
        {.path = "", .message = "expected an object of arguments, found " + describe(object)});
  sort_and_deduplicate(found);
  for (const Diagnostic& d : found)
    result.errors.push_back(d.path.empty() ? d.message : d.path + ": " + d.message);
  if (result.errors.empty() && checked) result.values = std::move(*checked);
  return result;
}

CheckedArguments check_arguments(const modules::FunctionSpec& function,
                                 const nlohmann::json& args) {
  const std::string owner = "of function " + function.name;
  // Not an object: refused with the same words either way.
  if (!function.any_args || !(args.is_null() || args.is_object()))
    return check_arguments(function.args, args, owner);
  CheckedArguments result;
  result.values = args.is_null() ? nlohmann::json::object() : args;
  return result;
}

}  // namespace psos::system
