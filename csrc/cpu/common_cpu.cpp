#include "gib/common.h"

namespace gib {

namespace {
thread_local InterruptPoll tl_poll = nullptr;
}

void set_interrupt_poll(InterruptPoll poll) { tl_poll = poll; }

void check_interrupt() {
  if (tl_poll != nullptr && tl_poll()) throw Interrupted();
}

}  // namespace gib
