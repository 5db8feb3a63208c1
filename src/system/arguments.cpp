// Arguments checked like parameters (see arguments.hpp).
#include "system/arguments.hpp"

#include "system/checker.hpp"

namespace psos::system {

CheckedArguments check_arguments(const std::vector<modules::ParamSpec>& specs,
                                 const nlohmann::json& args, const std::string& owner) {
  CheckedArguments result;
  const nlohmann::json object = args.is_null() ? nlohmann::json::object() : args;
  // The checker reports at positions in a document: the arguments become one.
  JsonReadResult read = read_json(object.dump());
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

}  // namespace psos::system
