/*
 * xs-budget's parts (xsBudget.c says what the host is): xsBudgetMemory.c accounts for the app's
 * memory and reports running out, xsBudgetLoad.c builds the machine with the flash part outside
 * the app's memory, xsBudget.c speaks the protocol.
 */
#ifndef XS_BUDGET_H
#define XS_BUDGET_H

#include "xsAll.h"
#include "xsScript.h"
#include "xsnap.h"

enum {
	EXIT_BAD_USAGE = 1,
	EXIT_IO_ERROR = 2,
	EXIT_HARNESS = 3,
	EXIT_NOT_ENOUGH_MEMORY = 11,
	EXIT_STACK_OVERFLOW = 12,
	EXIT_UNHANDLED_EXCEPTION = 15,
	EXIT_NO_MORE_KEYS = 16,
	EXIT_TOO_MUCH_COMPUTATION = 17,
};

/* What the app is given: the manifest's creation (passed by the Node side, which reads it). */
typedef struct {
	txSize chunk;
	txSize heap;
	txSize stack;
	txSize keys;
	txSize nameModulo;
	txSize symbolModulo;
} Budget;

/* What the built-ins and the loaded code hold after a collection: the device's flash. */
typedef struct {
	txSize chunks;
	txSize slots;
	txID keys;
} Rom;

typedef struct {
	txSize chunksPeak;
	txSize slotsPeak;
	txSize collections;
} Peaks;

/* Stack slots XS 17's fxCloneMachine keeps on a device machine's own stack (global, program,
   job queues...; the built-ins' prototypes stay with the machine in flash). XS 13.3 here keeps
   ~150 more (every prototype): those are not the app's. */
#define DEVICE_STACK_ROOTS 32

#define PROGRAM_FLAGS (mxProgramFlag | mxStrictFlag)

/* xsBudgetMemory.c */
extern Budget gBudget;
extern Rom gRom;
extern Peaks gPeaks;
extern txSize gSlackChunks, gSlackSlots;
extern txBoolean gMeasuring;
extern xsUnsignedValue gMeteringLimit;
extern xsUnsignedValue gCurrentLimit;
extern txSize gStackBase;
extern char gDeepest[2048];
extern void fatal(int code, const char* reason, const char* resource, const char* format, ...);
extern txSize appChunks(txMachine* the);
extern txSize appSlots(txMachine* the);
extern txSize stackDepth(txMachine* the);
extern txSize stackPeakDepth(txMachine* the);
extern void resetPeaks(txMachine* the);
extern void trackPeaks(txMachine* the);
extern xsBooleanValue meteringCallback(xsMachine* the, xsUnsignedValue index);
extern void sealStack(txMachine* the);
extern void xs_memoryUsage(xsMachine* the);

/* xsBudgetLoad.c */
extern txSize gLoadStack;
extern txSlot* gStackAllocation;
extern const char* gModulesDir;
extern const char* gPreloadModules[256];
extern int gPreloadModuleCount;
extern txScript* loadScript(txMachine* the, char* source, size_t length, txUnsigned flags);
extern void runScript(txMachine* the, txScript* script, txSlot* result);
extern txMachine* createBudgetMachine(char* source, size_t length, txScript** loaded);

/* xsBudget.c */
extern void installGlobals(txMachine* the);

/* xsBudgetCrypt.c */
extern void installNativeCrypt(txMachine* the);

#endif
