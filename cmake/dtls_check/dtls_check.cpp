// socklab_dtls_check PROBE.so — regression check for the asan preset's leak checker (see
// ../sanitizer_defaults.cpp). It puts a dynamic TLS block where GCC 12's sanitizer runtime
// mistakes it for a glibc 2.19-2.24 block with a header (16 bytes past a page boundary),
// then exits normally. Without intercept_tls_get_addr=0 LeakSanitizer's tracer reads the
// garbage range at exit and the process ends with "Tracer caught signal 11 ... LeakSanitizer
// has encountered a fatal error", exit 1; with it, exit 0.
// Exit 77 (a skip) when the allocator did not put the block there, so the check could not
// be made; it then says where the block went.
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: socklab_dtls_check PROBE.so\n");
        return 2;
    }
    void* lib = ::dlopen(argv[1], RTLD_NOW);
    if (lib == nullptr) {
        std::fprintf(stderr, "failed to load %s: %s\n", argv[1], ::dlerror());
        return 1;
    }
    auto* touch = reinterpret_cast<long* (*)()>(::dlsym(lib, "socklab_dtls_touch"));
    if (touch == nullptr) {
        std::fprintf(stderr, "failed to find socklab_dtls_touch in %s\n", argv[1]);
        return 1;
    }
    // The block is 16 bytes (two longs). ASan hands out blocks of that size class in address
    // order, 32 bytes apart with a 16-byte header each: once a block sits 16 bytes before a
    // page boundary, the next one starts 16 bytes past it.
    constexpr std::uintptr_t kPage = 4096;
    constexpr std::uintptr_t kWanted = 16;  // sizeof the header the runtime looks for
    std::vector<void*> held;
    held.reserve(100000);
    bool placed = false;
    for (int i = 0; i < 100000 && !placed; ++i) {
        void* p = std::malloc(16);
        held.push_back(p);
        placed = (reinterpret_cast<std::uintptr_t>(p) % kPage) == kPage - kWanted;
    }
    const auto at = reinterpret_cast<std::uintptr_t>(touch());
    std::printf("dynamic TLS block at %#lx, %lu bytes into its page\n",
                static_cast<unsigned long>(at), static_cast<unsigned long>(at % kPage));
    std::fflush(stdout);
    for (void* p : held) std::free(p);
    if (!placed || at % kPage != kWanted) {
        std::printf("the block is not where the check needs it: nothing was checked\n");
        return 77;
    }
    return 0;  // LeakSanitizer runs now, at exit
}
