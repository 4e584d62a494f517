#pragma once
// The helper's capabilities: kept in the permitted set only, raised into the effective set
// for one verb at a time (RAII), lowered again when the verb is done.
#include <initializer_list>
#include <string>

#include <sys/capability.h>

namespace socklab::helper_main {

// What the helper may ever use (docs/privileges.md says which verb needs which).
inline constexpr cap_value_t kKept[] = {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE,
                                        CAP_KILL, CAP_NET_ADMIN, CAP_NET_RAW};

// Drop every capability but kKept from the permitted set, empty the effective, inheritable
// and ambient sets and set no_new_privs. Throws socklab::Error when the kernel refuses.
void drop_to_kept();

// "cap_kill,cap_net_admin" — which of kKept are permitted now.
[[nodiscard]] std::string permitted_names();
[[nodiscard]] bool permitted(cap_value_t cap);

// Raises the given capabilities (those permitted) for its lifetime.
class Raised {
public:
    Raised(std::initializer_list<cap_value_t> caps);
    ~Raised();
    Raised(const Raised&) = delete;
    Raised& operator=(const Raised&) = delete;

private:
    void set(cap_flag_value_t v) noexcept;
    cap_value_t caps_[8]{};
    int n_ = 0;
};

}  // namespace socklab::helper_main
