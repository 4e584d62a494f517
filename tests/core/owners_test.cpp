// OwnerIndex on a fake /proc (fixtures) and on the real one (our own and a child's sockets).
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "socklab/error.hpp"
#include "socklab/owners.hpp"
#include "testsupport.hpp"

namespace fs = std::filesystem;
using namespace socklab;

namespace {

const fs::path kFixture = fs::path(SOCKLAB_FIXTURES) / "procroot-owners";

std::string user_for(std::uint32_t uid) {
    const passwd* pw = ::getpwuid(uid);
    return pw ? pw->pw_name : std::to_string(uid);
}

std::uint64_t inode_of(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return 0;
    return st.st_ino;
}

// A copy of the fixture tree the test may change, removed afterwards.
class TempProc {
public:
    TempProc() {
        std::string tmpl = (fs::temp_directory_path() / "socklab-procroot-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
        fs::copy(kFixture, path_, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    }
    ~TempProc() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    TempProc(const TempProc&) = delete;
    TempProc& operator=(const TempProc&) = delete;
    [[nodiscard]] const fs::path& path() const { return path_; }
    void write(const fs::path& rel, const std::string& text) const {
        std::ofstream(path_ / rel, std::ios::trunc) << text;
    }

private:
    fs::path path_;
};

// A forked child that holds `fd` (inherited) until killed; reaped on destruction.
class Child {
public:
    explicit Child(const char* name) {
        int ready[2];
        if (::pipe(ready) != 0) throw std::runtime_error("pipe failed");
        pid_ = ::fork();
        if (pid_ == 0) {
            ::prctl(PR_SET_NAME, name);
            ::close(ready[0]);
            (void)!::write(ready[1], "x", 1);
            for (;;) ::pause();
        }
        ::close(ready[1]);
        char c = 0;
        // The child writes after renaming itself, so /proc/<pid>/comm is final once we read.
        const bool ok = ::read(ready[0], &c, 1) == 1;
        ::close(ready[0]);
        if (!ok) throw std::runtime_error("child did not start");
    }
    ~Child() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    [[nodiscard]] int pid() const { return pid_; }

private:
    int pid_ = -1;
};

bool has_owner(std::span<const ProcessRef> owners, int pid, int fd) {
    return std::any_of(owners.begin(), owners.end(),
                       [&](const ProcessRef& p) { return p.pid == pid && p.fd == fd; });
}

}  // namespace

TEST(OwnersFixture, MapsEveryHolderOfEachInode) {
    OwnerIndex idx(kFixture);
    idx.refresh_all();
    const auto o123 = idx.owners_of(123);
    ASSERT_EQ(o123.size(), 3u) << "fd 3 and 9 of pid 100, fd 5 of pid 200";
    // Sorted by pid, then fd.
    EXPECT_EQ(o123[0].pid, 100);
    EXPECT_EQ(o123[0].fd, 3);
    EXPECT_EQ(o123[1].pid, 100);
    EXPECT_EQ(o123[1].fd, 9);
    EXPECT_EQ(o123[2].pid, 200);
    EXPECT_EQ(o123[2].fd, 5);
    EXPECT_EQ(o123[0].command, "server");
    EXPECT_EQ(o123[2].command, "worker (child)");
    EXPECT_EQ(o123[0].uid, 4242u) << "the effective uid from status";
    EXPECT_EQ(o123[0].user, user_for(4242));
    EXPECT_EQ(o123[2].uid, 0u);
    EXPECT_EQ(o123[2].user, user_for(0));

    const auto o456 = idx.owners_of(456);
    ASSERT_EQ(o456.size(), 1u);
    EXPECT_EQ(o456[0].pid, 100);
    EXPECT_EQ(o456[0].fd, 4);

    EXPECT_TRUE(idx.owners_of(555).empty()) << "a path containing socket:[ is no socket";
    EXPECT_TRUE(idx.owners_of(777).empty()) << "a pipe is no socket";
    EXPECT_TRUE(idx.owners_of(0).empty());
    EXPECT_TRUE(idx.owners_of(124).empty());
}

TEST(OwnersFixture, CountsVanishedProcessesAsUnreadable) {
    OwnerIndex idx(kFixture);
    idx.refresh_all();
    EXPECT_EQ(idx.stats().processes, 4u) << "100, 200, 300, 400; not self-not-a-pid";
    EXPECT_EQ(idx.stats().unreadable, 1u) << "300 has no fd directory";
    EXPECT_EQ(idx.stats().descriptors, 4u + 4u + 3u);
}

TEST(OwnersFixture, RefreshForRecordsOnlyTheWantedInodes) {
    OwnerIndex idx(kFixture);
    const std::vector<std::uint64_t> wanted{456, 0, 456, 99999};
    idx.refresh_for(wanted);
    ASSERT_EQ(idx.owners_of(456).size(), 1u);
    EXPECT_EQ(idx.owners_of(456)[0].command, "server");
    EXPECT_TRUE(idx.owners_of(123).empty()) << "not asked for, so not recorded";
    EXPECT_EQ(idx.stats().unreadable, 1u);

    idx.refresh_for(std::vector<std::uint64_t>{123});
    EXPECT_EQ(idx.owners_of(123).size(), 3u);
    EXPECT_TRUE(idx.owners_of(456).empty()) << "the previous answer is replaced";
}

TEST(OwnersFixture, MissingProcRootIsAnErrorNotACrash) {
    OwnerIndex idx(kFixture / "does-not-exist");
    try {
        idx.refresh_all();
        FAIL() << "expected socklab::Error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("failed to open"), std::string::npos) << e.what();
    }
}

TEST(OwnersFixture, RepeatedRefreshSeesChangedLinks) {
    TempProc proc;
    OwnerIndex idx(proc.path());
    idx.refresh_all();
    ASSERT_EQ(idx.owners_of(456).size(), 1u);
    // No stat/schedstat in the fixture: no signature, so every refresh walks again.
    fs::remove(proc.path() / "100/fd/4");
    fs::create_symlink("socket:[789]", proc.path() / "100/fd/4");
    fs::create_directories(proc.path() / "500/fd");
    fs::create_symlink("socket:[456]", proc.path() / "500/fd/0");
    proc.write("500/comm", "newcomer\n");
    proc.write("500/status", "Uid:\t0\t0\t0\t0\n");
    idx.refresh_all();
    ASSERT_EQ(idx.owners_of(456).size(), 1u);
    EXPECT_EQ(idx.owners_of(456)[0].pid, 500);
    ASSERT_EQ(idx.owners_of(789).size(), 1u);
    EXPECT_EQ(idx.owners_of(789)[0].pid, 100);
    fs::remove_all(proc.path() / "200");
    idx.refresh_all();
    EXPECT_EQ(idx.owners_of(123).size(), 2u) << "pid 200 exited";
}

TEST(OwnersFixture, UnchangedSignatureSkipsTheWalkAndAChangedOneDoesNot) {
    TempProc proc;
    // A single-threaded process (field 20 = 1) started at tick 777 (field 22).
    const std::string stat =
        "100 (server) S 1 100 100 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 777 1000 100\n";
    proc.write("100/stat", stat);
    proc.write("100/schedstat", "5000 10 3\n");
    OwnerIndex idx(proc.path());
    idx.refresh_all();
    const auto first = idx.stats().descriptors;
    ASSERT_EQ(first, 11u);
    idx.refresh_all();
    EXPECT_EQ(idx.stats().descriptors, first - 4) << "pid 100 was not read again";
    EXPECT_EQ(idx.owners_of(456).size(), 1u) << "cached owners are kept";
    EXPECT_EQ(idx.owners_of(123).size(), 3u);

    // It ran (schedstat moved): its table may have changed, so it is walked again.
    fs::remove(proc.path() / "100/fd/4");
    proc.write("100/schedstat", "6000 11 3\n");
    idx.refresh_all();
    EXPECT_EQ(idx.stats().descriptors, first - 1);
    EXPECT_TRUE(idx.owners_of(456).empty());

    // A new process under the same pid (other start time) is never mistaken for the old one.
    fs::create_symlink("socket:[456]", proc.path() / "100/fd/4");
    proc.write("100/stat",
               "100 (server) S 1 100 100 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 778 1000 100\n");
    idx.refresh_all();
    EXPECT_EQ(idx.owners_of(456).size(), 1u);

    // Several threads: no signature, walked every time.
    proc.write("100/stat",
               "100 (server) S 1 100 100 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 4 0 778 1000 100\n");
    idx.refresh_all();
    idx.refresh_all();
    EXPECT_EQ(idx.stats().descriptors, first);
}

// Every live test runs twice: through the /proc walk, and through the BPF iterator (root).
class OwnersLive : public ::testing::TestWithParam<bool> {
protected:
    void SetUp() override {
        if (GetParam() && !test::is_root()) GTEST_SKIP() << "the BPF iterator needs root";
    }
    OwnerIndex make_index() const {
        OwnerIndex idx;
        idx.set_allow_bpf(GetParam());
        return idx;
    }
};

TEST_P(OwnersLive, FindsOurOwnSocket) {
    const UniqueFd listener = test::tcp_listen("127.0.0.1", 0);
    const auto inode = inode_of(listener.get());
    ASSERT_NE(inode, 0u);
    OwnerIndex idx = make_index();
    idx.refresh_all();
    const auto owners = idx.owners_of(inode);
    ASSERT_EQ(owners.size(), 1u);
    EXPECT_EQ(owners[0].pid, ::getpid());
    EXPECT_EQ(owners[0].fd, listener.get());
    EXPECT_EQ(owners[0].uid, ::geteuid());
    EXPECT_EQ(owners[0].user, user_for(::geteuid()));
    std::ifstream comm("/proc/self/comm");
    std::string name;
    std::getline(comm, name);
    EXPECT_EQ(owners[0].command, name);
    EXPECT_STREQ(idx.stats().method, GetParam() ? "bpf" : "proc");
    EXPECT_GE(idx.stats().processes, 1u);
    EXPECT_GE(idx.stats().descriptors, 1u);
}

TEST_P(OwnersLive, FindsAForkedChildSharingTheSocketAndNoticesClose) {
    UniqueFd listener = test::tcp_listen("127.0.0.1", 0);
    const auto inode = inode_of(listener.get());
    const Child child("owners-child");

    OwnerIndex idx = make_index();
    const std::vector<std::uint64_t> wanted{inode};
    idx.refresh_for(wanted);
    auto owners = idx.owners_of(inode);
    ASSERT_EQ(owners.size(), 2u);
    EXPECT_TRUE(has_owner(owners, ::getpid(), listener.get()));
    ASSERT_TRUE(has_owner(owners, child.pid(), listener.get()));
    const auto& c = owners[0].pid == child.pid() ? owners[0] : owners[1];
    EXPECT_EQ(c.command, "owners-child");

    idx.refresh_all();
    EXPECT_EQ(idx.owners_of(inode).size(), 2u);
    // We close our copy: the incremental refresh must see it (we ran), the child still holds it.
    const int fd = listener.get();
    listener.reset();
    idx.refresh_all();
    owners = idx.owners_of(inode);
    ASSERT_EQ(owners.size(), 1u);
    EXPECT_EQ(owners[0].pid, child.pid());
    EXPECT_EQ(owners[0].fd, fd);
}

TEST_P(OwnersLive, IncrementalRefreshMatchesAFullOne) {
    std::vector<UniqueFd> socks;
    for (int i = 0; i < 20; ++i) socks.push_back(test::udp_bind("127.0.0.1", 0));
    OwnerIndex incremental = make_index();
    incremental.refresh_all();
    // Replace half of them: same count of descriptors, other inodes on the same numbers.
    std::vector<std::uint64_t> old_inodes, new_inodes;
    for (int i = 0; i < 10; ++i) {
        old_inodes.push_back(inode_of(socks[static_cast<std::size_t>(i)].get()));
        socks[static_cast<std::size_t>(i)].reset();
        socks[static_cast<std::size_t>(i)] = test::udp_bind("127.0.0.1", 0);
        new_inodes.push_back(inode_of(socks[static_cast<std::size_t>(i)].get()));
    }
    incremental.refresh_all();
    OwnerIndex full = make_index();
    full.refresh_all();
    for (std::size_t i = 0; i < old_inodes.size(); ++i) {
        EXPECT_TRUE(incremental.owners_of(old_inodes[i]).empty());
        ASSERT_EQ(incremental.owners_of(new_inodes[i]).size(), 1u);
        EXPECT_EQ(incremental.owners_of(new_inodes[i])[0].pid, ::getpid());
        EXPECT_EQ(full.owners_of(new_inodes[i]).size(), 1u);
    }
}

INSTANTIATE_TEST_SUITE_P(Method, OwnersLive, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "bpf" : "proc"; });

TEST(OwnersBpf, AgreesWithTheProcWalkOnEverySocketWeHold) {
    SOCKLAB_REQUIRE_ROOT();
    const UniqueFd listener = test::tcp_listen("127.0.0.1", 0);
    const UniqueFd client = test::tcp_connect("127.0.0.1", test::local_port(listener.get()));
    const UniqueFd server = test::tcp_accept(listener.get());
    const UniqueFd udp = test::udp_bind("::1", 0);
    const Child child("bpf-child");  // inherits all four
    OwnerIndex bpf;
    bpf.refresh_all();
    ASSERT_STREQ(bpf.stats().method, "bpf") << bpf.bpf_unavailable_reason();
    OwnerIndex proc;
    proc.set_allow_bpf(false);
    proc.refresh_all();
    ASSERT_STREQ(proc.stats().method, "proc");
    for (const int fd : {listener.get(), client.get(), server.get(), udp.get()}) {
        const auto a = bpf.owners_of(inode_of(fd));
        const auto b = proc.owners_of(inode_of(fd));
        ASSERT_EQ(a.size(), 2u) << "fd " << fd;
        ASSERT_EQ(b.size(), 2u) << "fd " << fd;
        for (std::size_t i = 0; i < a.size(); ++i) {
            EXPECT_EQ(a[i].pid, b[i].pid);
            EXPECT_EQ(a[i].fd, b[i].fd);
            EXPECT_EQ(a[i].command, b[i].command);
            EXPECT_EQ(a[i].uid, b[i].uid);
            EXPECT_EQ(a[i].user, b[i].user);
        }
        EXPECT_TRUE(has_owner(a, child.pid(), fd));
    }
}
