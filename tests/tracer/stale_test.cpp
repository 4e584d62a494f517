// remove_stale_instances(): instances named by a socklab whose process is gone are removed;
// instances of live owners and every instance socklab did not name are left alone.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "socklab/tracer.hpp"
#include "testsupport.hpp"
#include "tracer_test_util.hpp"

namespace socklab {
namespace {

using test::instance_exists;

// Instances made by hand for the test; removed at the end whatever happened.
class HandMadeInstances {
public:
    bool make(const std::string& name) {
        if (::mkdir((test::tracing_instances_dir() + "/" + name).c_str(), 0700) != 0) return false;
        names_.push_back(name);
        return true;
    }
    ~HandMadeInstances() {
        for (const auto& n : names_) ::rmdir((test::tracing_instances_dir() + "/" + n).c_str());
    }

private:
    std::vector<std::string> names_;
};

int dead_pid() {
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(0);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return pid;
}

TEST(TracerStale, RemovesInstancesOfDeadOwnersOnly) {
    SOCKLAB_REQUIRE_ROOT();
    // A Tracer makes sure tracefs is mounted, and its instance's name carries our own start
    // time as owner_alive() reads it.
    const int pid = ::getpid();
    std::uint64_t start = 0;
    {
        Tracer t(TracerOptions{std::uint16_t{9}, 256, false, false, {}});
        ASSERT_TRUE(t.status().active) << t.status().message;
        const auto owner = trace::parse_instance_name(t.instance_name());
        ASSERT_TRUE(owner);
        start = owner->start_time;
    }

    const int gone = dead_pid();
    const std::string dead_owner = trace::instance_name({gone, 4242, 0});
    const std::string recycled_pid = trace::instance_name({pid, start + 1, 0});  // same pid, other process
    const std::string live_owner = trace::instance_name({pid, start, 777});
    const std::string not_ours_1 = "socklabtest-" + std::to_string(gone);
    const std::string not_ours_2 = "other-tool-" + std::to_string(gone) + "-1-0";
    const std::string not_ours_3 = "socklab-" + std::to_string(gone) + "-x";

    HandMadeInstances made;
    for (const auto& n : {dead_owner, recycled_pid, live_owner, not_ours_1, not_ours_2, not_ours_3})
        ASSERT_TRUE(made.make(n)) << n;

    // Another socklab starting at the same moment (parallel tests) may sweep these first, so
    // the count returned here is not ours to assert; what must hold is the end state.
    (void)Tracer::remove_stale_instances();
    EXPECT_FALSE(instance_exists(dead_owner));
    EXPECT_FALSE(instance_exists(recycled_pid));
    EXPECT_TRUE(instance_exists(live_owner));
    EXPECT_TRUE(instance_exists(not_ours_1));
    EXPECT_TRUE(instance_exists(not_ours_2));
    EXPECT_TRUE(instance_exists(not_ours_3));
}

TEST(TracerStale, OwnerAliveReadsProcStat) {
    EXPECT_FALSE(trace::owner_alive({dead_pid(), 1, 0}));
    EXPECT_FALSE(trace::owner_alive({::getpid(), 0, 0}));  // a process never starts at tick 0
}

}  // namespace
}  // namespace socklab
