// socklab — see the kernel's socket table, run the labs, ask the port doctor.
#include <iostream>

#include "app.hpp"
#include "socklab/args.hpp"

int main(int argc, char** argv) {
    socklab::cli::init_language(argc, argv);  // before any help text is written
    socklab::cli::SocklabCli cli;
    if (const auto code = cli.parse(argc, argv, std::cout, std::cerr)) return *code;
    return cli.run();
}
