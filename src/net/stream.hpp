// One connected byte stream, whatever carries it (tcp, tls, ws, wss): what the router's
// listeners, the uplink client and the command-line tools read MQTT bytes from and write them to.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

namespace psos::net {

namespace asio = boost::asio;
using boost::system::error_code;

// Rules shared by every transport:
// - Use a stream from coroutines running on its executor only; it is not thread-safe.
// - One read_some() and one write() may be pending at the same time (full duplex); close() may
//   be started while they are pending, and makes them complete.
// - Results are error codes; the data path does not throw (except std::bad_alloc).
// - A peer that closed cleanly reads as asio::error::eof on every transport (a WebSocket close
//   frame and a TLS connection closed without close_notify included).
// - Every operation obeys terminal cancellation through Asio's cancellation slots, e.g.
//   `co_await (stream.read_some(buffer) || timer.async_wait(asio::use_awaitable))`, and then
//   completes with asio::error::operation_aborted. After a cancelled operation a tcp stream is
//   still usable; a tls, ws or wss stream is not (its framing state is unknown): close it.
class Stream {
 public:
  // How long close() waits for the peer to answer its close frame, close_notify or FIN.
  static constexpr std::chrono::milliseconds kCloseGrace{1000};

  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  virtual ~Stream() = default;

  // Reads at least one byte into `buffer`. For WebSocket, message boundaries are ignored (MQTT
  // packets may span messages); a text message is a protocol error (MQTT spec 6.0).
  virtual asio::awaitable<std::tuple<error_code, std::size_t>> read_some(
      asio::mutable_buffer buffer) = 0;

  // Calls `ready` (on the stream's executor, never from inside this call) once read_some() has
  // something to report (bytes, the end of the stream or an error) without taking it, and returns
  // true: a connection waits for its peer holding nothing but `ready`, no coroutine and no buffer.
  // Returns false, and never calls `ready`, where read_some() must do the waiting itself: tls, ws
  // and wss, whose framing layers keep bytes the socket does not show.
  virtual bool wait_readable(std::function<void()> ready);

  // Writes all of `buffers`; over WebSocket they become one binary message.
  virtual asio::awaitable<error_code> write(std::span<const asio::const_buffer> buffers) = 0;
  asio::awaitable<error_code> write(asio::const_buffer buffer);

  // Server side: runs the TLS handshake and/or the WebSocket upgrade (subprotocol "mqtt"); a no-op
  // for plain TCP. Bound it with a timeout so a silent client cannot hold a connection slot.
  // Streams from connect() are already handshaken.
  virtual asio::awaitable<error_code> handshake() = 0;

  // Ends the connection: sends a WebSocket close frame, a TLS close_notify or a TCP FIN and gives
  // the peer kCloseGrace to answer, then closes the socket (so unread data cannot turn the close
  // into a reset that loses the last packet sent). Never throws. Called from a coroutine that is
  // being cancelled, it skips the graceful part and just closes.
  virtual asio::awaitable<void> close() = 0;

  // "127.0.0.1:54321", "[::1]:5": the peer, captured when the connection was made.
  const std::string& remote_address() const noexcept { return remote_address_; }
  // "tcp", "tls", "ws" or "wss".
  virtual std::string_view transport() const noexcept = 0;
  virtual asio::any_io_executor get_executor() = 0;

 protected:
  explicit Stream(std::string remote_address) : remote_address_(std::move(remote_address)) {}

 private:
  std::string remote_address_;
};

}  // namespace psos::net
