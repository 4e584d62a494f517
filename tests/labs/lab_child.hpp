#pragma once
// Test helpers for the labs: the child process helper and `ss` as an oracle, both shared by
// every test from tests/support.
#include "child.hpp"
#include "ss.hpp"
