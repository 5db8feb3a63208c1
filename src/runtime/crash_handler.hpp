// The node process's fatal-signal handler: on SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP
// or SIGSYS it records the signal, the service whose code ran last on the loop and a stack trace
// in the black box, says so on standard error, and lets the signal end the process as it would
// have (its parent sees the signal). Only async-signal-safe calls: memory stores into the mapped
// box, clock_gettime, write(2), lseek(2), backtrace() (loaded beforehand) and
// backtrace_symbols_fd(), which writes to the box's descriptor.
#pragma once

namespace psos::runtime {

class BlackBox;

// Installs the handler for the whole process, with an alternate signal stack for the calling
// thread (the loop's: a stack overflow is a SIGSEGV too). Once per process.
void install_crash_handler(BlackBox& box);
// Back to the default actions (before the box goes).
void remove_crash_handler();

}  // namespace psos::runtime
