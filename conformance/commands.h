/* commands.h - the otahil subcommands; each returns the process exit code. */
#ifndef OTAHIL_COMMANDS_H
#define OTAHIL_COMMANDS_H
int cmd_run(int argc, char **argv);
int cmd_certify(int argc, char **argv);
int cmd_catalogue(int argc, char **argv);
int cmd_repro(int argc, char **argv);
int cmd_image(int argc, char **argv);
int cmd_flash(int argc, char **argv);
int cmd_board(int argc, char **argv);
int cmd_device(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
#endif
