/* lrnnx: the command-line tool. The commands are in the other files of tools/ (see tools.h). */
#include "tools/tools.h"

int main(int argc, char **argv) { return lr_tool_main(argc, argv, stdout, stderr); }
