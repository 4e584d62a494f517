// The task_file BPF iterator behind OwnerIndex's fast path (see owners_bpf.hpp).
//
// No libbpf: the program is ten-odd instructions, assembled here. The offsets of the kernel
// fields it reads (task_struct.tgid, file.f_inode, inode.i_mode/i_ino/i_sb,
// super_block.s_dev) come from the running kernel's BTF, so it follows struct layout changes
// the way CO-RE would; the verifier checks every load against that same BTF.
#include "owners_bpf.hpp"

#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/btf.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string_view>
#include <utility>

#include "socklab/fd.hpp"

namespace socklab::detail {
namespace {

// ---- BTF: just enough to find a few struct members and one function -----------------------

class Btf {
public:
    Btf() = default;
    Btf(const Btf&) = delete;
    Btf& operator=(const Btf&) = delete;
    ~Btf() {
        if (map_ != nullptr) ::munmap(map_, map_size_);
    }

    bool load(std::string& why) {
        const UniqueFd fd(::open("/sys/kernel/btf/vmlinux", O_RDONLY | O_CLOEXEC));
        if (!fd) {
            why = std::string("no kernel BTF (/sys/kernel/btf/vmlinux): ") + std::strerror(errno);
            return false;
        }
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0 || st.st_size <= 0) {
            why = "cannot size /sys/kernel/btf/vmlinux";
            return false;
        }
        // Linux >= 6.16 lets the BTF be mapped; before that sysfs hands it out a page per
        // read(), ~1,300 system calls for 5 MB.
        const auto size = static_cast<std::size_t>(st.st_size);
        void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
        if (map != MAP_FAILED) {
            map_ = map;
            map_size_ = size;
            bytes_ = std::string_view(static_cast<const char*>(map), size);
        } else {
            data_.resize(size);
            std::size_t got = 0;
            while (got < data_.size()) {
                const ssize_t n = ::read(fd.get(), data_.data() + got, data_.size() - got);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) break;
                got += static_cast<std::size_t>(n);
            }
            data_.resize(got);
            bytes_ = data_;
        }
        btf_header h{};
        if (bytes_.size() < sizeof h) return fail(why, "BTF too short");
        std::memcpy(&h, bytes_.data(), sizeof h);
        if (h.magic != BTF_MAGIC || h.hdr_len < sizeof h ||
            std::size_t{h.hdr_len} + h.type_off + h.type_len > bytes_.size() ||
            std::size_t{h.hdr_len} + h.str_off + h.str_len > bytes_.size())
            return fail(why, "BTF header not understood");
        types_ = bytes_.substr(h.hdr_len + h.type_off, h.type_len);
        strings_ = bytes_.substr(h.hdr_len + h.str_off, h.str_len);
        offsets_.reserve(types_.size() / 16);
        offsets_.push_back(0);  // type id 0 is void
        std::size_t off = 0;
        while (off + sizeof(btf_type) <= types_.size()) {
            offsets_.push_back(static_cast<std::uint32_t>(off));
            const btf_type t = type_at(off);
            const std::size_t extra = trailer(t);
            if (extra == kBad) return fail(why, "unknown BTF kind " + std::to_string(kind(t)));
            off += sizeof(btf_type) + extra;
        }
        return true;
    }

    // Type ids of named types of given kinds, in one pass over the ~150k types; 0 if absent.
    template <std::size_t N>
    [[nodiscard]] std::array<std::uint32_t, N> find(
        const std::array<std::pair<std::string_view, unsigned>, N>& wanted) const {
        std::array<std::uint32_t, N> ids{};
        std::size_t left = N;
        for (std::uint32_t id = 1; id < offsets_.size() && left > 0; ++id) {
            const btf_type t = type(id);
            if (t.name_off == 0) continue;
            const auto k = kind(t);
            if (k != BTF_KIND_STRUCT && k != BTF_KIND_FUNC) continue;
            const auto name = str(t.name_off);
            for (std::size_t i = 0; i < N; ++i) {
                if (ids[i] == 0 && wanted[i].second == k && wanted[i].first == name) {
                    ids[i] = id;
                    --left;
                }
            }
        }
        return ids;
    }

    // Byte offset and byte size of a (possibly nested in anonymous unions) member.
    struct Member {
        std::uint32_t offset = 0;
        std::uint32_t size = 0;
    };
    [[nodiscard]] std::optional<Member> member(std::uint32_t struct_id,
                                               std::string_view name) const {
        return member_in(struct_id, name, 0, 0);
    }

private:
    static constexpr std::size_t kBad = ~std::size_t{0};
    static unsigned kind(const btf_type& t) { return (t.info >> 24) & 0x1f; }
    static unsigned vlen(const btf_type& t) { return t.info & 0xffff; }
    static bool kind_flag(const btf_type& t) { return (t.info >> 31) != 0; }

    static bool fail(std::string& why, std::string text) {
        why = std::move(text);
        return false;
    }

    btf_type type_at(std::size_t off) const {
        btf_type t{};
        std::memcpy(&t, types_.data() + off, sizeof t);
        return t;
    }
    btf_type type(std::uint32_t id) const { return type_at(offsets_[id]); }
    std::string_view str(std::uint32_t off) const {
        if (off >= strings_.size()) return {};
        const auto rest = strings_.substr(off);
        return rest.substr(0, rest.find('\0'));
    }

    static std::size_t trailer(const btf_type& t) {
        const std::size_t n = vlen(t);
        switch (kind(t)) {
            case BTF_KIND_INT: return 4;
            case BTF_KIND_PTR: case BTF_KIND_FWD: case BTF_KIND_TYPEDEF: case BTF_KIND_VOLATILE:
            case BTF_KIND_CONST: case BTF_KIND_RESTRICT: case BTF_KIND_FUNC: case BTF_KIND_FLOAT:
            case BTF_KIND_TYPE_TAG:
                return 0;
            case BTF_KIND_ARRAY: return sizeof(btf_array);
            case BTF_KIND_STRUCT: case BTF_KIND_UNION: return n * sizeof(btf_member);
            case BTF_KIND_ENUM: return n * sizeof(btf_enum);
            case BTF_KIND_FUNC_PROTO: return n * sizeof(btf_param);
            case BTF_KIND_VAR: return sizeof(btf_var);
            case BTF_KIND_DATASEC: return n * sizeof(btf_var_secinfo);
            case BTF_KIND_DECL_TAG: return sizeof(btf_decl_tag);
            case BTF_KIND_ENUM64: return n * sizeof(btf_enum64);
            default: return kBad;
        }
    }

    // Follow typedef/const/volatile/restrict/type_tag to the real type.
    std::uint32_t resolve(std::uint32_t id) const {
        for (int hops = 0; hops < 32 && id != 0 && id < offsets_.size(); ++hops) {
            const btf_type t = type(id);
            switch (kind(t)) {
                case BTF_KIND_TYPEDEF: case BTF_KIND_VOLATILE: case BTF_KIND_CONST:
                case BTF_KIND_RESTRICT: case BTF_KIND_TYPE_TAG:
                    id = t.type;
                    continue;
                default: return id;
            }
        }
        return 0;
    }

    std::optional<std::uint32_t> size_of(std::uint32_t id) const {
        id = resolve(id);
        if (id == 0 || id >= offsets_.size()) return std::nullopt;
        const btf_type t = type(id);
        switch (kind(t)) {
            case BTF_KIND_PTR: return 8u;
            case BTF_KIND_INT: case BTF_KIND_ENUM: case BTF_KIND_ENUM64: case BTF_KIND_STRUCT:
            case BTF_KIND_UNION:
                return t.size;
            default: return std::nullopt;
        }
    }

    std::optional<Member> member_in(std::uint32_t id, std::string_view name, std::uint32_t base,
                                    int depth) const {
        id = resolve(id);
        if (depth > 8 || id == 0 || id >= offsets_.size()) return std::nullopt;
        const btf_type t = type(id);
        if (kind(t) != BTF_KIND_STRUCT && kind(t) != BTF_KIND_UNION) return std::nullopt;
        const std::size_t first = offsets_[id] + sizeof(btf_type);
        for (unsigned i = 0; i < vlen(t); ++i) {
            btf_member m{};
            std::memcpy(&m, types_.data() + first + i * sizeof m, sizeof m);
            const std::uint32_t bits = kind_flag(t) ? (m.offset & 0xffffff) : m.offset;
            if (kind_flag(t) && (m.offset >> 24) != 0) continue;  // a bitfield: not ours
            if (bits % 8 != 0) continue;
            const std::uint32_t at = base + bits / 8;
            if (m.name_off == 0) {
                if (auto inner = member_in(m.type, name, at, depth + 1)) return inner;
                continue;
            }
            if (str(m.name_off) != name) continue;
            const auto size = size_of(m.type);
            if (!size) return std::nullopt;
            return Member{at, *size};
        }
        return std::nullopt;
    }

    void* map_ = nullptr;
    std::size_t map_size_ = 0;
    std::string data_;  // when it cannot be mapped
    std::string_view bytes_, types_, strings_;
    std::vector<std::uint32_t> offsets_;  // type id -> offset in types_
};

// ---- A tiny BPF assembler --------------------------------------------------------------

constexpr bpf_insn insn(std::uint8_t code, std::uint8_t dst, std::uint8_t src, std::int16_t off,
                        std::int32_t imm) {
    bpf_insn i{};
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    return i;
}
std::uint8_t size_code(std::uint32_t bytes) {
    switch (bytes) {
        case 1: return BPF_B;
        case 2: return BPF_H;
        case 4: return BPF_W;
        default: return BPF_DW;
    }
}
bpf_insn load(std::uint8_t dst, std::uint8_t src, std::int16_t off, std::uint32_t bytes) {
    return insn(static_cast<std::uint8_t>(BPF_LDX | BPF_MEM | size_code(bytes)), dst, src, off, 0);
}
bpf_insn store(std::uint8_t dst, std::int16_t off, std::uint8_t src, std::uint32_t bytes) {
    return insn(static_cast<std::uint8_t>(BPF_STX | BPF_MEM | size_code(bytes)), dst, src, off, 0);
}

long bpf(int cmd, bpf_attr& attr) {
    return ::syscall(__NR_bpf, cmd, &attr, sizeof attr);
}

// In a child pid namespace the iterator's task->tgid is not the pid /proc shows.
bool in_root_pid_namespace() {
    const UniqueFd fd(::open("/proc/self/status", O_RDONLY | O_CLOEXEC));
    if (!fd) return false;
    std::array<char, 4096> buf{};
    const ssize_t n = ::read(fd.get(), buf.data(), buf.size() - 1);
    if (n <= 0) return false;
    std::string_view s(buf.data(), static_cast<std::size_t>(n));
    const auto at = s.find("\nNSpid:");
    if (at == std::string_view::npos) return false;
    auto line = s.substr(at + 7);
    line = line.substr(0, line.find('\n'));
    // One number: no nesting. Two or more: we are inside a child namespace.
    while (!line.empty() && (line.front() == '\t' || line.front() == ' ')) line.remove_prefix(1);
    return line.find_first_of("\t ") == std::string_view::npos;
}

// The kernel's own dev_t (MKDEV: major << 20 | minor) of sockfs, as super_block.s_dev holds it.
std::optional<std::uint32_t> sockfs_kernel_dev() {
    const UniqueFd s(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    struct stat st {};
    if (!s || ::fstat(s.get(), &st) != 0) return std::nullopt;
    return static_cast<std::uint32_t>((major(st.st_dev) << 20) | minor(st.st_dev));
}

}  // namespace

bool BpfSocketIter::open(std::string& why) {
    if (!in_root_pid_namespace()) {
        why = "inside a child pid namespace";
        return false;
    }
    const auto sockfs = sockfs_kernel_dev();
    if (!sockfs) {
        why = "cannot stat a socket";
        return false;
    }
    Btf btf;
    if (!btf.load(why)) return false;
    const auto [iter_fn, task, file, inode, sb] = btf.find<5>({{
        {"bpf_iter_task_file", BTF_KIND_FUNC},
        {"task_struct", BTF_KIND_STRUCT},
        {"file", BTF_KIND_STRUCT},
        {"inode", BTF_KIND_STRUCT},
        {"super_block", BTF_KIND_STRUCT},
    }});
    if (iter_fn == 0 || task == 0 || file == 0 || inode == 0 || sb == 0) {
        why = "kernel has no task_file iterator in its BTF";
        return false;
    }
    const auto tgid = btf.member(task, "tgid");
    const auto f_inode = btf.member(file, "f_inode");
    const auto i_mode = btf.member(inode, "i_mode");
    const auto i_ino = btf.member(inode, "i_ino");
    const auto i_sb = btf.member(inode, "i_sb");
    const auto s_dev = btf.member(sb, "s_dev");
    if (!tgid || !f_inode || !i_mode || !i_ino || !i_sb || !s_dev || tgid->size != 4 ||
        f_inode->size != 8 || i_mode->size != 2 || i_ino->size != 8 || i_sb->size != 8 ||
        s_dev->size != 4) {
        why = "kernel structs are not laid out as expected";
        return false;
    }
    const auto at = [](const Btf::Member& m) { return static_cast<std::int16_t>(m.offset); };

    // struct bpf_iter__task_file { meta; task; u32 fd; file; } -> offsets 0, 8, 16, 24.
    // Record written per socket descriptor: { u32 tgid; u32 fd; u64 ino; u32 dev; u32 pad; }
    constexpr std::uint8_t r0 = 0, r1 = 1, r2 = 2, r3 = 3, r4 = 4, r5 = 5, r6 = 6, r7 = 7,
                           r8 = 8, r9 = 9, r10 = 10;
    const std::array<bpf_insn, 26> prog{
        load(r6, r1, 0, 8),   // meta
        load(r7, r1, 8, 8),   // task
        load(r8, r1, 16, 4),  // fd
        load(r9, r1, 24, 8),  // file
        insn(BPF_JMP | BPF_JEQ | BPF_K, r7, 0, 19, 0),  // no task: out
        insn(BPF_JMP | BPF_JEQ | BPF_K, r9, 0, 18, 0),  // no file: out
        load(r2, r9, at(*f_inode), 8),
        load(r3, r2, at(*i_mode), 2),
        insn(BPF_ALU64 | BPF_AND | BPF_K, r3, 0, 0, 0xf000),
        insn(BPF_JMP | BPF_JNE | BPF_K, r3, 0, 14, 0xc000),  // not S_IFSOCK: out
        load(r3, r2, at(*i_sb), 8),
        load(r3, r3, at(*s_dev), 4),
        load(r4, r2, at(*i_ino), 8),
        load(r5, r7, at(*tgid), 4),
        store(r10, -24, r5, 4),
        store(r10, -20, r8, 4),
        store(r10, -16, r4, 8),
        store(r10, -8, r3, 4),
        insn(BPF_ST | BPF_MEM | BPF_W, r10, 0, -4, 0),
        load(r1, r6, 0, 8),  // meta->seq
        insn(BPF_ALU64 | BPF_MOV | BPF_X, r2, r10, 0, 0),
        insn(BPF_ALU64 | BPF_ADD | BPF_K, r2, 0, 0, -24),
        insn(BPF_ALU64 | BPF_MOV | BPF_K, r3, 0, 0, 24),
        insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_seq_write),
        insn(BPF_ALU64 | BPF_MOV | BPF_K, r0, 0, 0, 0),  // out:
        insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
    };
    static constexpr char license[] = "GPL";
    std::array<char, 4096> log{};
    bpf_attr attr{};
    attr.prog_type = BPF_PROG_TYPE_TRACING;
    attr.expected_attach_type = BPF_TRACE_ITER;
    attr.attach_btf_id = iter_fn;
    attr.insns = reinterpret_cast<std::uint64_t>(prog.data());
    attr.insn_cnt = static_cast<std::uint32_t>(prog.size());
    attr.license = reinterpret_cast<std::uint64_t>(license);
    attr.log_buf = reinterpret_cast<std::uint64_t>(log.data());
    attr.log_size = static_cast<std::uint32_t>(log.size());
    attr.log_level = 1;
    std::memcpy(attr.prog_name, "socklab_fds", sizeof "socklab_fds");
    const UniqueFd prog_fd(static_cast<int>(bpf(BPF_PROG_LOAD, attr)));
    if (!prog_fd) {
        why = std::string("failed to load the BPF iterator: ") + std::strerror(errno);
        if (errno == EACCES && log[0] != '\0') why += std::string(" (") + log.data() + ")";
        return false;
    }
    attr = {};
    attr.link_create.prog_fd = static_cast<std::uint32_t>(prog_fd.get());
    attr.link_create.attach_type = BPF_TRACE_ITER;
    UniqueFd link_fd(static_cast<int>(bpf(BPF_LINK_CREATE, attr)));
    if (!link_fd) {
        why = std::string("failed to attach the BPF iterator: ") + std::strerror(errno);
        return false;
    }
    sockfs_dev_ = *sockfs;
    link_ = std::move(link_fd);
    return true;
}

bool BpfSocketIter::read_all(std::vector<SocketFd>& out, std::string& why) const {
    bpf_attr attr{};
    attr.iter_create.link_fd = static_cast<std::uint32_t>(link_.get());
    const UniqueFd iter_fd(static_cast<int>(bpf(BPF_ITER_CREATE, attr)));
    if (!iter_fd) {
        why = std::string("failed to start the BPF iterator: ") + std::strerror(errno);
        return false;
    }

    struct Raw {
        std::uint32_t tgid, fd;
        std::uint64_t ino;
        std::uint32_t dev, pad;
    };
    static_assert(sizeof(Raw) == 24);
    std::vector<char> buf(1 << 18);
    std::size_t have = 0;
    for (;;) {
        const ssize_t n = ::read(iter_fd.get(), buf.data() + have, buf.size() - have);
        if (n < 0) {
            if (errno == EINTR) continue;
            why = std::string("failed to read the BPF iterator: ") + std::strerror(errno);
            return false;
        }
        if (n == 0) break;
        have += static_cast<std::size_t>(n);
        std::size_t off = 0;
        for (; off + sizeof(Raw) <= have; off += sizeof(Raw)) {
            Raw r{};
            std::memcpy(&r, buf.data() + off, sizeof r);
            // S_IFSOCK on another filesystem is an O_PATH descriptor of a socket file on disk:
            // its inode number is that filesystem's, not a socket's.
            if (r.dev == sockfs_dev_) out.push_back({r.tgid, r.fd, r.ino});
        }
        std::memmove(buf.data(), buf.data() + off, have - off);
        have -= off;
    }
    return true;
}

}  // namespace socklab::detail
