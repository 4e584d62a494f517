// libFuzzer target: the viewer's table filter box. Any text is parsed by parse_filter() and
// matched against a handful of rows (a listener with its process, a connection, TIME_WAIT
// with no owner, a UDP socket). What must hold, for any input:
//  - one word per whitespace-separated token, each the token in lower case;
//  - words are ANDed: a row matches the whole text exactly when it matches every word alone;
//  - the empty filter matches every row.
#include <sys/socket.h>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/table_view.hpp"
#include "socklab/state.hpp"

namespace {

using socklab::Proto;
using socklab::TcpState;
using socklab::viewer::parse_filter;
using socklab::viewer::Row;
using socklab::viewer::row_matches;

void require(bool ok) {
    if (!ok) __builtin_trap();
}

Row row(Proto proto, TcpState state, std::uint16_t lport, std::uint16_t rport, int pid,
        std::string process, std::string local, std::string remote) {
    Row r;
    r.rec.proto = proto;
    r.rec.family = AF_INET;
    r.rec.state = static_cast<std::uint8_t>(state);
    r.rec.local_port = lport;
    r.rec.remote_port = rport;
    r.pid = pid;
    r.process = std::move(process);
    r.user = pid != 0 ? "root" : "";
    r.local_text = std::move(local);
    r.remote_text = std::move(remote);
    return r;
}

const std::vector<Row>& rows() {
    static const std::vector<Row> all{
        row(Proto::tcp, TcpState::listen, 8080, 0, 4242, "nginx", "0.0.0.0:8080", "*:*"),
        row(Proto::tcp, TcpState::established, 8080, 51000, 4242, "nginx", "127.0.0.1:8080",
            "127.0.0.1:51000"),
        row(Proto::tcp, TcpState::time_wait, 51001, 8080, 0, "", "127.0.0.1:51001",
            "127.0.0.1:8080"),
        row(Proto::udp, TcpState::close, 53, 0, 17, "Resolver", "[::1]:53", "*:*"),
    };
    return all;
}

std::vector<std::string> tokens(std::string_view text) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < text.size()) {
        if (std::isspace(static_cast<unsigned char>(text[i]))) {
            ++i;
            continue;
        }
        std::size_t j = i;
        while (j < text.size() && !std::isspace(static_cast<unsigned char>(text[j]))) ++j;
        out.emplace_back(text.substr(i, j - i));
        i = j;
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 4096) return 0;  // a filter box line, not a file
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto whole = parse_filter(text);
    const auto toks = tokens(text);
    require(whole.words.size() == toks.size());
    for (std::size_t i = 0; i < toks.size(); ++i) {
        std::string low = toks[i];
        for (auto& c : low) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        require(whole.words[i].lower == low);
    }
    const auto empty = parse_filter("");
    for (const Row& r : rows()) {
        require(row_matches(r, empty));
        bool every = true;
        for (const auto& t : toks) every = every && row_matches(r, parse_filter(t));
        require(row_matches(r, whole) == every);
    }
    return 0;
}
