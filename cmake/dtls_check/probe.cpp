// A shared library with thread-local storage, loaded with dlopen by dtls_check.cpp. Run with
// GLIBC_TUNABLES=glibc.rtld.optional_static_tls=0, glibc has no static room left for it, so
// a thread's first use of `words` allocates a dynamic TLS block with malloc (__tls_get_addr).
thread_local long words[2];

extern "C" long* socklab_dtls_touch() {
    ++words[0];
    return words;
}
