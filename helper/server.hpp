#pragma once
// The helper's request loop over its end of the socketpair: read a frame, check it, run the
// verb with just the capability it needs, answer. One request at a time.
namespace socklab::helper_main {

// Serve requests on `fd` until the front end closes the channel or a frame cannot be read.
// Returns the exit status of the helper: 0 after a clean close, 1 after a bad frame.
int serve(int fd);

}  // namespace socklab::helper_main
