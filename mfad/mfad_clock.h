/*
 * The daemon's clocks, one of each. Wall time ("real") is what is stored
 * and shown: record times, expiries, lock ends, audit times. Monotonic
 * time ("mono") measures intervals in this process only: deadlines,
 * rate limits, pauses; it never goes back when the wall clock is set,
 * and means nothing across a restart, so it is never stored.
 */
#ifndef MFAD_CLOCK_H
#define MFAD_CLOCK_H

#include <stdint.h>

/* Wall time in seconds since the epoch. */
uint64_t mfad_clock_real_s(void);
/* Wall time in microseconds since the epoch. */
uint64_t mfad_clock_real_us(void);
/* Monotonic time in seconds, from an unspecified start. */
long long mfad_clock_mono_s(void);
/* Monotonic time in milliseconds, from an unspecified start. */
long long mfad_clock_mono_ms(void);
/* Monotonic time in microseconds, to time a computation. */
long long mfad_clock_mono_us(void);

#endif
