// What the built-in module files share: the Module entry they each define, and the parameters
// many of them have.
#pragma once

#include <string>

#include "modules/module.hpp"

namespace psos::modules {

// `sub`: the filters a service subscribes to (required).
ParamSpec sub_param(std::string description);
// `pub`: the topic a service publishes to (required).
ParamSpec pub_param(std::string description);
// `qos` and `retain` of the messages a service publishes.
ParamSpec qos_param();
ParamSpec retain_param();
// `property`: which part of a JSON payload a service looks at.
ParamSpec property_param();

}  // namespace psos::modules
