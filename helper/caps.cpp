// Capability handling with libcap (see caps.hpp).
#include "caps.hpp"

#include <sys/prctl.h>

#include <cerrno>
#include <cstdlib>
#include <memory>

#include "socklab/error.hpp"
#include "socklab/i18n.hpp"

namespace socklab::helper_main {
namespace {

struct CapFree {
    void operator()(void* p) const noexcept { cap_free(p); }
};
using CapPtr = std::unique_ptr<std::remove_pointer_t<cap_t>, CapFree>;

CapPtr current() {
    CapPtr c(cap_get_proc());
    if (!c) throw sys_error(_("read the helper's capabilities"), errno);
    return c;
}

bool kept(cap_value_t cap) {
    for (auto k : kKept)
        if (k == cap) return true;
    return false;
}

}  // namespace

void drop_to_kept() {
    CapPtr have = current();
    CapPtr want(cap_init());  // all clear
    if (!want) throw sys_error(_("allocate a capability set"), errno);
    for (auto cap : kKept) {
        cap_flag_value_t v = CAP_CLEAR;
        if (cap_get_flag(have.get(), cap, CAP_PERMITTED, &v) == 0 && v == CAP_SET)
            cap_set_flag(want.get(), CAP_PERMITTED, 1, &cap, CAP_SET);
    }
    if (cap_set_proc(want.get()) != 0) throw sys_error(_("drop the helper's capabilities"), errno);
    // Nothing it runs may gain privileges, and nothing is handed on through ambient caps.
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        throw sys_error(_("clear the ambient capabilities"), errno);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) throw sys_error("set no_new_privs", errno);
}

bool permitted(cap_value_t cap) {
    CapPtr have = current();
    cap_flag_value_t v = CAP_CLEAR;
    return cap_get_flag(have.get(), cap, CAP_PERMITTED, &v) == 0 && v == CAP_SET;
}

std::string permitted_names() {
    std::string out;
    for (auto cap : kKept) {
        if (!permitted(cap)) continue;
        std::unique_ptr<char, CapFree> name(cap_to_name(cap));
        if (!out.empty()) out += ",";
        out += name ? name.get() : "?";
    }
    return out.empty() ? "none" : out;
}

Raised::Raised(std::initializer_list<cap_value_t> caps) {
    for (auto c : caps)
        if (kept(c) && n_ < 8 && permitted(c)) caps_[n_++] = c;
    set(CAP_SET);
}

Raised::~Raised() { set(CAP_CLEAR); }

void Raised::set(cap_flag_value_t v) noexcept {
    if (n_ == 0) return;
    CapPtr c(cap_get_proc());
    if (!c) std::abort();  // cannot even read them: never run on with unknown privileges
    cap_set_flag(c.get(), CAP_EFFECTIVE, n_, caps_, v);
    // Lowering must not fail silently: a helper that cannot lower its privileges stops.
    if (cap_set_proc(c.get()) != 0 && v == CAP_CLEAR) std::abort();
}

}  // namespace socklab::helper_main
