#pragma once
// The viewer's tests run it under xvfb-run. Left to itself, xvfb-run keeps its X authority
// file in a temporary directory of its own and removes that directory after the program; that
// removal has been seen to fail under load, and then xvfb-run exits 5 whatever the viewer did.
// With -f it uses the file it is given and has no directory to remove: here, one file per run
// in a directory of this test process, removed when the process exits. The directory is
// world-writable and sticky (as /tmp is) so runs as another user can write their file too.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "testsupport.hpp"

namespace socklab::test {

inline const std::filesystem::path& xauth_dir() {
    struct Dir {
        TempDir dir{"socklab-xauth"};
        Dir() { ::chmod(dir.path.c_str(), 01777); }
    };
    static const Dir dir;
    return dir.dir.path;
}

// xvfb-run -a with an X authority file of its own, the server's arguments, then `command`.
inline std::vector<std::string> xvfb_run(const std::vector<std::string>& command,
                                         const std::string& server_args = "-screen 0 1600x1000x24") {
    static std::atomic<int> runs{0};
    const auto auth = xauth_dir() / ("Xauthority-" + std::to_string(runs++));
    std::vector<std::string> argv{"xvfb-run", "-a", "-f", auth.string(), "-s", server_args};
    argv.insert(argv.end(), command.begin(), command.end());
    return argv;
}

}  // namespace socklab::test
