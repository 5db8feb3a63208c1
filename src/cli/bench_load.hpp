// The load `psos bench` puts on a broker: publishers, subscribers and idle connections, each a
// small purpose-built MQTT client on one io_context thread, and the figures they collect.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bench_stats.hpp"
#include "mqtt/packets.hpp"
#include "net/url.hpp"

namespace psos::cli::bench {

struct LoadOptions {
  net::Url broker;
  std::string ca_file;  // mqtts:// and wss://
  bool insecure = false;
  mqtt::Version version = mqtt::Version::v5;
  std::string client_prefix;  // client ids are PREFIX-pub-I, PREFIX-sub-I, PREFIX-idle-I
  unsigned publishers = 1;
  unsigned subscribers = 1;
  unsigned idle = 0;
  // %i is replaced by the client's index (1..N) among the publishers or the subscribers.
  std::string topic = "psos-bench/%i";
  std::string filter;  // what subscribers subscribe to; empty: `topic`
  std::size_t payload_size = 64;
  mqtt::QoS qos = mqtt::QoS::AtMostOnce;
  double rate = 0;              // messages/s per publisher; 0: as fast as possible
  unsigned inflight = 64;       // QoS 1/2 window per publisher (and the broker's limit)
  double duration = 10;         // seconds of publishing (of holding, without publishers)
  double drain = 5;             // seconds to wait for late messages and acknowledgements
  double connect_timeout = 30;  // seconds for all connections to be ready
  unsigned connect_parallelism = 64;
  std::uint16_t keep_alive = 60;
  // > 0: persistent sessions, as clients that must not lose messages use them: CONNECT with
  // Clean Start 0 and this Session Expiry Interval in seconds (MQTT 3.1.1: Clean Session 0,
  // which never expires). 0: clean sessions that end with the connection.
  std::uint32_t session_expiry = 0;
};

// One second of the run, for the live progress line.
struct Progress {
  double elapsed = 0;          // seconds since publishing started
  std::uint64_t sent = 0;      // in the last interval
  std::uint64_t received = 0;  // in the last interval
  double interval = 1;         // seconds the counts cover
  std::uint64_t in_flight = 0;
  std::uint64_t p50_ns = 0;  // over the whole run so far
  std::uint64_t p99_ns = 0;
  std::size_t connected = 0;
};

struct LoadReport {
  bool ran = false;            // every connection was ready and the publishing time began
  std::size_t connected = 0;   // connections that got their CONNACK (and SUBACK)
  double connect_seconds = 0;  // from the first connect to the last client ready
  double seconds = 0;          // the publishing window actually measured
  std::uint16_t broker_receive_maximum = 0;  // 0: the broker announced none
  unsigned window = 0;                       // in-flight messages per publisher actually used
  std::uint64_t sent = 0;                    // PUBLISH packets written by publishers
  std::uint64_t acknowledged = 0;            // QoS 1/2: flows the broker completed
  std::uint64_t refused = 0;                 // QoS 1/2: acknowledgements with a failure code
  std::uint64_t expected = 0;                // per receiver (subscriber or shared group), the
                                             // messages its filter matches, summed
  std::uint64_t received = 0;                // bench messages subscribers got, duplicates too
  std::uint64_t received_in_window = 0;      // of those, before publishing stopped
  std::uint64_t unique = 0;
  std::uint64_t lost = 0;  // expected - unique (never negative)
  std::uint64_t duplicates = 0;
  // Messages a subscriber got after a later one from the same publisher.
  std::uint64_t out_of_order = 0;
  std::uint64_t foreign = 0;  // messages without a bench stamp of this run
  LatencyHistogram latency;
  std::vector<std::string> errors;  // failed or lost connections, with the client's id
};

// Runs the whole load: connect, subscribe, publish for `duration`, drain, disconnect. Calls
// `progress` once per second from the run's thread. Never throws for network errors (they are
// in the report).
LoadReport run_load(const LoadOptions& options,
                    const std::function<void(const Progress&)>& progress);

}  // namespace psos::cli::bench
