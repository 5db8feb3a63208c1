// The built-in modules' specifications, one function per module file, and the parameters many
// of them share. registry.cpp lists them; a new module adds one line there.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>

#include "modules/spec.hpp"

namespace psos::modules {

ModuleSpec aggregate_spec();
ModuleSpec bridge_spec();
ModuleSpec delay_spec();
ModuleSpec exec_spec();
ModuleSpec filter_spec();
ModuleSpec function_spec();
ModuleSpec log_spec();
ModuleSpec pipe_spec();
ModuleSpec sim_dht_spec();
ModuleSpec sim_sensor_spec();
ModuleSpec store_spec();
ModuleSpec switch_spec();
ModuleSpec sysinfo_spec();
ModuleSpec timer_spec();

// The modules' code (modules/context.hpp); find_run() in run.cpp lists them.
class Context;
boost::asio::awaitable<void> run_function(Context& context);
boost::asio::awaitable<void> run_aggregate(Context& context);
boost::asio::awaitable<void> run_bridge(Context& context);
boost::asio::awaitable<void> run_delay(Context& context);
boost::asio::awaitable<void> run_exec(Context& context);
boost::asio::awaitable<void> run_filter(Context& context);
boost::asio::awaitable<void> run_log(Context& context);
boost::asio::awaitable<void> run_pipe(Context& context);
boost::asio::awaitable<void> run_store(Context& context);
boost::asio::awaitable<void> run_sysinfo(Context& context);
boost::asio::awaitable<void> run_sim_dht(Context& context);
boost::asio::awaitable<void> run_sim_sensor(Context& context);
boost::asio::awaitable<void> run_switch(Context& context);
boost::asio::awaitable<void> run_timer(Context& context);

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
