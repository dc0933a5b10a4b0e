/*
 * otahil/board_info.h - what the simulated board tells its reference port.
 * Not part of AliOS: a vendor port knows its own board and never needs it.
 */
#ifndef OTAHIL_BOARD_INFO_H
#define OTAHIL_BOARD_INFO_H

#include <stdint.h>

/* 1 when the board's bootloader is the A/B "pingpong" kind, 0 for "copy". */
int otahil_board_is_pingpong(void);
/* The flash's erase unit and program unit, in bytes. */
uint32_t otahil_board_sector_size(void);
uint32_t otahil_board_program_unit(void);

#endif
