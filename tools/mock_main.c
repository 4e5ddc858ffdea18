/* mock_main.c - the tokentap-mock program: `tokentap mock` execs it.
 *
 * The mock is a test fixture (tools/mock.h): its broken-protocol routes
 * (mock_bad.c) are linked here only, never into the product CLI, which
 * carries just the mock's server and provider routes for `tokentap replay`
 * and `run --mock` (libtt-mock.a). argv[0] is whatever the caller passed;
 * the options are those of `tokentap mock` (tt_mock_main). */
#include "mock.h"

int main(int argc, char **argv)
{
    return tt_mock_main(argc, argv);
}
