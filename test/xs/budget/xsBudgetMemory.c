/*
 * xs-budget: the app's memory. What the app holds is what the machine holds less the flash part
 * (gRom); peaks are live high-water marks, found by collecting garbage whenever use passes the
 * peak so far by the slack; running out ends the process with one line naming the resource.
 */
#include "xsBudget.h"

Budget gBudget = { 78848, 4928, 512, 256, 127, 127 };
Rom gRom;
Peaks gPeaks;
txSize gSlackChunks, gSlackSlots;
txBoolean gMeasuring = 0;
xsUnsignedValue gMeteringLimit = 0;
xsUnsignedValue gCurrentLimit = 0;
txSize gStackBase = 0;
char gDeepest[2048];
static int gInRegExp = 0;
static char gLastReport[512];
/* The deepest stack this host has seen at a sample (XS also records depths when functions
   return, which the chain in gDeepest cannot follow). */
static txSlot* gSampledStackPeak = NULL;

extern txInteger __real_fxMatchRegExp(void* the, txInteger* code, txInteger* data, txString subject, txInteger offset);
extern void __real_fxAbort(txMachine* the, int status);

txSize appChunks(txMachine* the) { return the->currentChunksSize - gRom.chunks; }
txSize appSlots(txMachine* the) { return the->currentHeapCount - gRom.slots; }
/* Stack depths as the device would see them: the host's own roots replaced by the device's. */
txSize stackDepth(txMachine* the) { return (txSize)(the->stackTop - the->stack) - gStackBase + DEVICE_STACK_ROOTS; }
txSize stackPeakDepth(txMachine* the) { return (txSize)(the->stackTop - the->stackPeak) - gStackBase + DEVICE_STACK_ROOTS; }

/* The functions on the stack, innermost first, by name and with the stack slots each frame
   takes (arguments, locals and temporaries): where a stack peak was reached. */
static void recordDeepest(txMachine* the)
{
	txSlot* frame = the->frame;
	txSlot* below = the->stack;
	size_t used = 0;
	gDeepest[0] = 0;
	while (frame && used + 80 < sizeof(gDeepest)) {
		txSlot* function = frame + 3;
		const char* name = "?";
		if (function->kind == XS_REFERENCE_KIND) {
			txSlot* code = mxFunctionInstanceCode(function->value.reference);
			if (code && code->ID != XS_NO_ID)
				name = fxGetKeyName(the, code->ID);
		}
		used += snprintf(gDeepest + used, sizeof(gDeepest) - used, "%s%.48s %ld", used ? " < " : "", name ? name : "?", (long)(frame - below) + 1);
		below = frame + 1;
		frame = frame->next;
	}
	for (char* c = gDeepest; *c; c++)
		if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
			*c = '_';
}

void fatal(int code, const char* reason, const char* resource, const char* format, ...)
{
	va_list args;
	fprintf(stderr, "xs-budget: %s (%s): ", reason, resource);
	va_start(args, format);
	vfprintf(stderr, format, args);
	va_end(args);
	fprintf(stderr, "\n");
	fflush(stderr);
	exit(code);
}

/* XS explains a failed allocation through fxReport just before it aborts: keep the words. */
void __wrap_fxReport(txMachine* the, txString format, ...)
{
	va_list args;
	va_start(args, format);
	vsnprintf(gLastReport, sizeof(gLastReport), format, args);
	va_end(args);
	size_t length = strlen(gLastReport);
	while (length > 0 && (gLastReport[length - 1] == '\n' || gLastReport[length - 1] == ' '))
		gLastReport[--length] = 0;
}

void __wrap_fxAbort(txMachine* the, int status)
{
	const char* xs = gLastReport[0] == '#' ? gLastReport + 2 : gLastReport;
	switch (status) {
	case XS_NOT_ENOUGH_MEMORY_EXIT:
		if (!gMeasuring)
			fatal(EXIT_NOT_ENOUGH_MEMORY, "memory full", "loading", "the built-ins and the code's names did not fit (%s)", xs);
		if (strstr(gLastReport, "Slot"))
			fatal(EXIT_NOT_ENOUGH_MEMORY, "memory full", "slots", "the app has %ld slots, %ld were live at the last collection; XS: %s",
				(long)gBudget.heap, (long)appSlots(the), xs);
		fatal(EXIT_NOT_ENOUGH_MEMORY, "memory full", "chunks", "the app has %ld chunk bytes, %ld in use; XS: %s",
			(long)gBudget.chunk, (long)appChunks(the), xs);
		break;
	case XS_STACK_OVERFLOW_EXIT:
		recordDeepest(the);
		fatal(EXIT_STACK_OVERFLOW, "stack overflow", "stack", "the stack has %ld slots; in %s", (long)gBudget.stack, gDeepest);
		break;
	case XS_NO_MORE_KEYS_EXIT:
		fatal(EXIT_NO_MORE_KEYS, "not enough keys", "keys", "the app may create %ld keys at run time", (long)gBudget.keys);
		break;
	case XS_TOO_MUCH_COMPUTATION_EXIT:
		fatal(EXIT_TOO_MUCH_COMPUTATION, "too much computation", "compute", "over the metering limit of %lu", (unsigned long)gCurrentLimit);
		break;
	default:
		__real_fxAbort(the, status);
	}
}

/* ---- peaks -------------------------------------------------------------------------------- */

void resetPeaks(txMachine* the)
{
	gPeaks.chunksPeak = appChunks(the);
	gPeaks.slotsPeak = appSlots(the);
	the->stackPeak = the->stack;
	gSampledStackPeak = the->stack;
	gDeepest[0] = 0;
}

/* The live high-water mark: collect when use passes the peak by more than the slack. */
void trackPeaks(txMachine* the)
{
	if (the->stack < gSampledStackPeak) {
		gSampledStackPeak = the->stack;
		recordDeepest(the);
	}
	else if (the->stackPeak < gSampledStackPeak) {
		/* XS found a deeper stack when a function ended than any sample did (a leaf's temporaries,
		   a native call's arguments): the chain here is what was beneath that peak. */
		size_t used = strlen(gDeepest);
		gSampledStackPeak = the->stackPeak;
		recordDeepest(the);
		used = strlen(gDeepest);
		snprintf(gDeepest + used, sizeof(gDeepest) - used, " [peak %ld slots above this]", (long)(the->stack - the->stackPeak));
	}
	if (the->stack < the->stackPeak)
		the->stackPeak = the->stack;
	if (appChunks(the) > gPeaks.chunksPeak + gSlackChunks || appSlots(the) > gPeaks.slotsPeak + gSlackSlots) {
		fxCollect(the, XS_COMPACT_FLAG);
		gPeaks.collections++;
		if (appChunks(the) > gPeaks.chunksPeak)
			gPeaks.chunksPeak = appChunks(the);
		if (appSlots(the) > gPeaks.slotsPeak)
			gPeaks.slotsPeak = appSlots(the);
	}
}

/* The regular-expression matcher checks the meter while it holds a pointer into a string chunk,
   which a compacting collection would move: no collection in there. */
txInteger __wrap_fxMatchRegExp(void* the, txInteger* code, txInteger* data, txString subject, txInteger offset)
{
	txInteger result;
	gInRegExp++;
	result = __real_fxMatchRegExp(the, code, data, subject, offset);
	gInRegExp--;
	return result;
}

xsBooleanValue meteringCallback(xsMachine* the, xsUnsignedValue index)
{
	if (gCurrentLimit > 0 && index > gCurrentLimit)
		return 0;
	if (gMeasuring && !gInRegExp)
		trackPeaks(the);
	return 1;
}

/* The stack from here on: the creation's, less the roots a device machine keeps on it. */
void sealStack(txMachine* the)
{
	if (stackDepth(the) > gBudget.stack)
		fatal(EXIT_STACK_OVERFLOW, "stack overflow", "stack", "%ld slots in use after loading, the stack has %ld", (long)stackDepth(the), (long)gBudget.stack);
	the->stackBottom = the->stackTop - gStackBase - (gBudget.stack - DEVICE_STACK_ROOTS);
}


/* memoryUsage(reset): the meter's numbers, for the script. */
void xs_memoryUsage(xsMachine* the)
{
	txBoolean reset = (xsToInteger(xsArgc) > 0) && xsTest(xsArg(0));
	txSize chunks = appChunks(the), slots = appSlots(the), stack = stackDepth(the), stackPeak = stackPeakDepth(the);
	txSize chunksPeak = gPeaks.chunksPeak > chunks ? gPeaks.chunksPeak : chunks;
	txSize slotsPeak = gPeaks.slotsPeak > slots ? gPeaks.slotsPeak : slots;
	if (reset)
		resetPeaks(the);
	xsResult = xsNewObject();
	xsSet(xsResult, xsID("chunks"), xsInteger(chunks));
	xsSet(xsResult, xsID("chunksPeak"), xsInteger(chunksPeak));
	xsSet(xsResult, xsID("slots"), xsInteger(slots));
	xsSet(xsResult, xsID("slotsPeak"), xsInteger(slotsPeak));
	xsSet(xsResult, xsID("stack"), xsInteger(stack));
	xsSet(xsResult, xsID("stackPeak"), xsInteger(stackPeak));
}
