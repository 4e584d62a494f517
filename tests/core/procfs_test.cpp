// core/src/procfs: /proc/<pid>/stat fields, socket inodes from descriptor links, user names.
// On the fake /proc in tests/fixtures/procroot-owners, on hand-written edge cases, and on the
// real /proc of this test process, checked against what /proc/self/status and fstat() say.
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "procfs.hpp"
#include "socklab/fd.hpp"
#include "socklab/owners.hpp"

namespace {

namespace fs = std::filesystem;
using socklab::procfs::parse_stat;
using socklab::procfs::read_stat;

const fs::path kFixture = fs::path(SOCKLAB_FIXTURES) / "procroot-owners";

TEST(Procfs, ReadsStatFromAFixtureRoot) {
    const auto server = read_stat(100, kFixture);
    ASSERT_TRUE(server);
    EXPECT_EQ(server->state, 'S');
    EXPECT_EQ(server->ppid, 1);
    EXPECT_EQ(server->flags, 4194560u);
    EXPECT_EQ(server->num_threads, 1u);
    EXPECT_EQ(server->start_time, 5123u);
}

TEST(Procfs, FieldsStartAfterTheLastParenthesisOfTheCommand) {
    // comm is "worker (child)": counting fields from the first ')' would be off by one.
    const auto worker = read_stat(200, kFixture);
    ASSERT_TRUE(worker);
    EXPECT_EQ(worker->state, 'R');
    EXPECT_EQ(worker->ppid, 100);
    EXPECT_EQ(worker->num_threads, 3u);
    EXPECT_EQ(worker->start_time, 5200u);
    // A command may even hold ") S 2 " itself.
    const auto odd = parse_stat("7 (a) S 2 b) Z 9 7 7 0 -1 64 0 0 0 0 0 0 0 0 20 0 1 0 77 0 0");
    ASSERT_TRUE(odd);
    EXPECT_EQ(odd->state, 'Z');
    EXPECT_EQ(odd->ppid, 9);
    EXPECT_EQ(odd->start_time, 77u);
}

TEST(Procfs, AKernelThreadHasPfKthreadInItsFlags) {
    const auto k = parse_stat("42 (kworker/0:1) I 2 0 0 0 -1 69238880 0 0 0 0 0 0 0 0 20 0 1 0 "
                              "42 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0\n");
    ASSERT_TRUE(k);
    EXPECT_NE(k->flags & 0x00200000u, 0u) << "PF_KTHREAD";
    EXPECT_EQ(k->state, 'I');
}

TEST(Procfs, AShortOrGarbledLineIsNoStat) {
    EXPECT_FALSE(parse_stat(""));
    EXPECT_FALSE(parse_stat("100 server S 1"));                       // no ')'
    EXPECT_FALSE(parse_stat("600 (cut short) S 1 600 600 0 -1 4194560 0 0\n"));  // before field 22
    EXPECT_FALSE(parse_stat("1 (x) S one 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5"));  // ppid
    EXPECT_FALSE(parse_stat("1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -5"));   // start
    EXPECT_FALSE(parse_stat("1 (x) SS 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5"));   // state
    EXPECT_FALSE(read_stat(300, kFixture)) << "300 has no stat: it is gone";
    EXPECT_FALSE(read_stat(999999, kFixture));
}

TEST(Procfs, OurOwnStatAgreesWithStatus) {
    const auto self = read_stat(::getpid());
    ASSERT_TRUE(self);
    EXPECT_EQ(self->state, 'R') << "we are running while we read it";
    EXPECT_EQ(self->ppid, ::getppid());
    std::ifstream status("/proc/self/status");
    std::string line;
    unsigned long long threads = 0;
    while (std::getline(status, line))
        if (line.rfind("Threads:", 0) == 0) threads = std::stoull(line.substr(8));
    EXPECT_EQ(self->num_threads, threads);
    EXPECT_GT(self->start_time, 0u);
    // Start time does not change while the process lives: pid reuse is what it guards against.
    EXPECT_EQ(read_stat(::getpid())->start_time, self->start_time);
}

TEST(Procfs, SocketInodeOfALink) {
    using socklab::procfs::socket_inode_of_link;
    EXPECT_EQ(socket_inode_of_link("socket:[123]"), 123u);
    EXPECT_EQ(socket_inode_of_link("socket:[18446744073709551615]"), 18446744073709551615u);
    EXPECT_EQ(socket_inode_of_link("socket:[]"), 0u);
    EXPECT_EQ(socket_inode_of_link("socket:[12"), 0u);
    EXPECT_EQ(socket_inode_of_link("socket:[1x]"), 0u);
    EXPECT_EQ(socket_inode_of_link("socket:[-1]"), 0u);
    EXPECT_EQ(socket_inode_of_link("socket:[18446744073709551616]"), 0u) << "overflow";
    EXPECT_EQ(socket_inode_of_link("/tmp/socket:[5]"), 0u);
    EXPECT_EQ(socket_inode_of_link("pipe:[77]"), 0u);
    EXPECT_EQ(socket_inode_of_link("/dev/null"), 0u);
}

TEST(Procfs, SocketInodeOfADescriptorOnTheFixture) {
    using socklab::procfs::socket_inode_of_fd;
    EXPECT_EQ(socket_inode_of_fd(100, 3, kFixture), 123u);
    EXPECT_EQ(socket_inode_of_fd(100, 4, kFixture), 456u);
    EXPECT_EQ(socket_inode_of_fd(100, 0, kFixture), 0u) << "/dev/null";
    EXPECT_EQ(socket_inode_of_fd(100, 77, kFixture), 0u) << "no such descriptor";
    EXPECT_EQ(socket_inode_of_fd(300, 0, kFixture), 0u) << "no fd directory";
}

TEST(Procfs, HoldsSocketOnTheFixtureAndForReal) {
    using socklab::procfs::holds_socket;
    EXPECT_TRUE(holds_socket(100, 456, kFixture));
    EXPECT_TRUE(holds_socket(200, 123, kFixture));
    EXPECT_FALSE(holds_socket(200, 456, kFixture));
    EXPECT_FALSE(holds_socket(300, 123, kFixture));
    EXPECT_FALSE(holds_socket(100, 0, kFixture)) << "inode 0 is nobody's";

    const socklab::UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(s) << "failed to create a socket";
    struct stat st {};
    ASSERT_EQ(::fstat(s.get(), &st), 0);
    EXPECT_TRUE(holds_socket(::getpid(), st.st_ino));
    EXPECT_EQ(socklab::procfs::socket_inode_of_fd(::getpid(), s.get()), st.st_ino);
    EXPECT_FALSE(holds_socket(::getpid(), st.st_ino + 1000000));
}

TEST(Procfs, UserNameIsThePasswdNameOrTheNumber) {
    EXPECT_EQ(socklab::user_name(0), "root");
    const passwd* nobody = ::getpwnam("nobody");
    ASSERT_NE(nobody, nullptr) << "the test expects a 'nobody' user";
    EXPECT_EQ(socklab::user_name(nobody->pw_uid), "nobody");
    // No such user: the number, as ps and ss print it.
    std::uint32_t unused = 54321;
    while (::getpwuid(unused) != nullptr) ++unused;
    EXPECT_EQ(socklab::user_name(unused), std::to_string(unused));
}

}  // namespace
