// `psos modules`: a list of modules, or one module's parameters with their types, defaults,
// allowed values and descriptions, wrapped for an 80-column terminal.
#include "modules_command.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <string_view>
#include <vector>

#include "modules/module.hpp"
#include "system/diagnostic.hpp"
#include "system/duration.hpp"

namespace psos::cli {
namespace {

using modules::ParamSpec;
using modules::ParamType;

constexpr std::size_t kWidth = 80;

// `text` as lines of at most kWidth columns, each starting with `indent` spaces.
std::string wrap(std::string_view text, std::size_t indent) {
  std::string out;
  std::string line(indent, ' ');
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find(' ', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view word = text.substr(start, end - start);
    if (line.size() > indent && line.size() + 1 + word.size() > kWidth) {
      out += line + "\n";
      line.assign(indent, ' ');
    }
    if (line.size() > indent) line += ' ';
    line += word;
    start = end + 1;
  }
  if (line.size() > indent) out += line + "\n";
  return out;
}

std::string number(double value) {
  return nlohmann::json(value).dump();
}

std::string bound(const ParamSpec& spec, double value) {
  if (spec.type == ParamType::Duration)
    return system::format_duration(std::chrono::milliseconds(static_cast<std::int64_t>(value)));
  if (spec.type == ParamType::Integer) return std::to_string(static_cast<std::int64_t>(value));
  return number(value);
}

// "duration, required", "integer 0..2, default 0", "one of \"first\", \"all\", default \"first\""
std::string attributes(const ParamSpec& spec) {
  std::string text(modules::type_name(spec.type));
  if (!spec.allowed.empty()) {
    text += spec.type == ParamType::Strings ? " from " : ", one of ";
    for (std::size_t i = 0; i < spec.allowed.size(); ++i)
      text += (i ? ", " : "") + system::in_quotes(spec.allowed[i]);
  }
  if (spec.minimum && spec.maximum) {
    text += " " + bound(spec, *spec.minimum) + ".." + bound(spec, *spec.maximum);
  } else if (spec.minimum) {
    text += ", at least " + bound(spec, *spec.minimum);
  } else if (spec.maximum) {
    text += ", at most " + bound(spec, *spec.maximum);
  }
  if (spec.literal && spec.type != ParamType::Boolean) text += ", not a template";
  if (spec.file) text += ", a file relative to the definition";
  if (spec.required) text += ", required";
  if (!spec.default_value.is_null()) text += ", default " + spec.default_value.dump();
  return text;
}

std::string describe_params(const std::vector<ParamSpec>& params, std::size_t indent) {
  std::string out;
  for (const ParamSpec& spec : params) {
    out += wrap(spec.name + " (" + attributes(spec) + ")", indent);
    out += wrap(spec.description, indent + 4);
    if (!spec.pattern_help.empty() && spec.name != "name")
      out += wrap("Written as " + spec.pattern_help + ".", indent + 4);
    if (!spec.fields.empty()) out += describe_params(spec.fields, indent + 4);
  }
  return out;
}

std::string describe_module(const modules::ModuleSpec& module) {
  std::string out = module.name + ": " + module.summary + "\n";
  if (!module.description.empty()) out += "\n" + wrap(module.description, 0);
  out += "\nParameters:\n" + describe_params(module.params, 2);
  for (const std::vector<std::string>& group : module.one_of) {
    std::string names;
    for (std::size_t i = 0; i < group.size(); ++i)
      names += (i == 0 ? "" : i + 1 == group.size() ? " or " : ", ") + group[i];
    out += "\n" + wrap("Give exactly one of " + names + ".", 0);
  }
  if (module.runs_commands)
    out += "\n" + wrap(
                      "Runs commands on the node's machine: a node starts such a service only "
                      "when it is run with --allow-exec.",
                      0);
  out += "\nEvery service also has:\n" + describe_params(modules::service_keys(), 2);
  out += "\nFunctions (psos call NODE SERVICE FUNCTION [ARGS_JSON]):\n";
  std::vector<const modules::FunctionSpec*> functions = {&modules::status_function()};
  for (const modules::FunctionSpec& f : module.functions)
    functions.push_back(&f);
  for (const modules::FunctionSpec* f : functions) {
    out += wrap(f->name, 2);
    out += wrap(f->description, 6);
    if (f->any_args) out += wrap("Arguments: any JSON object.", 6);
    if (!f->args.empty()) out += wrap("Arguments:", 6) + describe_params(f->args, 8);
  }
  if (!module.defined_functions.empty()) out += "\n" + wrap(module.defined_functions, 2);
  return out;
}

std::string list_modules() {
  std::size_t width = 0;
  for (const modules::Module& module : modules::builtin_modules())
    width = std::max(width, module.spec.name.size());
  std::string out = "Built-in modules (psos modules NAME describes one):\n";
  for (const modules::Module& module : modules::builtin_modules())
    out += "  " + module.spec.name + std::string(width - module.spec.name.size() + 2, ' ') +
           module.spec.summary + "\n";
  return out;
}

}  // namespace

ModulesCommand::ModulesCommand(CLI::App& parent)
    : app_(parent.add_subcommand("modules", "List the built-in modules or describe one")) {
  app_->add_option("NAME", name_, "The module to describe");
  app_->footer(R"(
Without NAME, lists the modules a service can run. With NAME, describes that
module's parameters (type, default, allowed values) and the functions its
services offer to `psos call`. The same specifications check definitions
(psos check), make the JSON Schema (psos schema) and answer a node's `help`.)");
}

bool ModulesCommand::selected() const {
  return app_->parsed();
}

int ModulesCommand::run() const {
  if (name_.empty()) {
    std::fputs(list_modules().c_str(), stdout);
    return 0;
  }
  if (const modules::Module* module = modules::find_builtin(name_)) {
    std::fputs(describe_module(module->spec).c_str(), stdout);
    return 0;
  }
  std::vector<std::string_view> names;
  for (const modules::Module& module : modules::builtin_modules())
    names.push_back(module.spec.name);
  std::fprintf(stderr, "psos modules: no module %s%s; psos modules lists them\n",
               system::in_quotes(name_).c_str(), system::did_you_mean(name_, names).c_str());
  return 1;
}

}  // namespace psos::cli
