#pragma once
// The helper's request loop over its end of the socketpair: read a frame, check it, run the
// verb with just the capability it needs, answer. One request at a time.
#include <sys/types.h>

namespace socklab::helper_main {

// Serve requests on `fd` until the front end closes the channel or a frame cannot be read.
// `caller` is the uid of the peer on `fd` (SO_PEERCRED): a trace streams the system calls
// of that user's processes only. Returns the exit status of the helper: 0 after a clean
// close, 1 after a bad frame.
int serve(int fd, uid_t caller);

}  // namespace socklab::helper_main
