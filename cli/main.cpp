// socklab — see the kernel's socket table, run the labs, ask the port doctor.
#include <iostream>

#include "app.hpp"

int main(int argc, char** argv) {
    socklab::cli::SocklabCli cli;
    if (const auto code = cli.parse(argc, argv, std::cout, std::cerr)) return *code;
    return cli.run();
}
