/*
 * xs-budget: an XS host that gives a script the JavaScript memory of a plain ESP32, fixed, and
 * reports what the script uses of it. Built at test time (budgetEngine.ts) from the XS sources that
 * @agoric/xsnap ships on npm; nothing here comes from the Moddable SDK.
 *
 * It speaks xsnap-worker's protocol (test/xs/xsWorker.ts): netstrings on fd 3 (in) and fd 4 (out),
 *   e<script>  load and run a script      -> .<meter json>\1<bytes>  or  !<error text>
 *   ?<bytes>   call globalThis.handleCommand(ArrayBuffer), run its promise jobs, answer its
 *              result (an ArrayBuffer, or an object whose `result` is one)
 *   q          quit
 * and while a command runs the script may call issueCommand(ArrayBuffer), answered by /<bytes>.
 *
 * What makes it the device rather than xsnap:
 * - Memory: the app gets `--chunk` bytes of chunk heap and `--heap` slots, with no growth (XS's
 *   fixed-size heap: incremental 0), a stack of `--stack` slots and `--keys` keys it may create
 *   at run time. On the device the built-in objects live in flash, and so do the modules' byte
 *   code, string literals and names (the XS archive). Here the same is true: the machine is built
 *   twice. A probe machine (growable) builds the built-ins, freezes them, and parses the first
 *   script, creating its names; what is then alive after a garbage collection is the "flash"
 *   part. The real machine is created with that plus the app's creation as its FIXED heap, does
 *   the same, and checks it landed on exactly the same numbers. Functions and string literals
 *   of loaded scripts run from the parsed byte code (XS's archive opcodes, as the device's
 *   linker emits them) instead of being copied into the chunk heap.
 * - --modules <dir>: the firmware as separate modules, as the device loads them: every `.js` file
 *   under <dir> is a module named by its path there without `.js` (`shared/bytes`), its imports
 *   already rewritten to such names. All are parsed (names and byte code in "flash") before the
 *   real machine is sealed; XS loads one when it is first imported. --preload-module <name> runs
 *   that module before sealing (repeatable): its objects count as flash, as Moddable's `preload`.
 * - One allowance without --modules: the first script is then an esbuild bundle, one function
 *   whose scope holds the top-level names of every module, where the device gives each module
 *   its own. While it loads, the stack may go --load-stack slots deeper than the creation's; from
 *   its end on, the stack is the creation's (what loading used is still reported).
 * - Running out: XS aborts with "memory full" (or stack overflow, not enough keys); this host
 *   then writes one line `xs-budget: <reason> (<resource>): <detail>` to stderr and exits with
 *   xsnap's exit codes (11 memory, 12 stack, 16 keys, 17 computation).
 * - Globals: no TextEncoder/TextDecoder, no crypto, no setTimeout/setImmediate, no console, no
 *   harden/lockdown. Built-in prototypes and functions are frozen, as the device's linker leaves
 *   them (Moddable SDK documentation/xs/preload.md, "Automatic Freezing of Built-ins").
 *   Test-harness globals: issueCommand, gc, trace (the device's console output), memoryUsage.
 *
 * Measuring: every reply's meter has `memory`: the app's chunk bytes and slots now and at their
 * peak during the command, and the stack depth (slots) now and at its peak. A peak here is the
 * LIVE high-water mark: whenever use passes the peak so far by more than 1/200 of the creation,
 * the host collects garbage (at a function entry or loop back-edge, where XS allows it) and
 * records what survives. XS alone collects only when the heap is full, so its own peak counts
 * garbage. memoryUsage(reset) returns the same numbers to the script and, given true, starts
 * new peaks from the current use.
 *
 * The parts: xsBudgetMemory.c (accounting, peaks, running out), xsBudgetLoad.c (building the
 * machine, loading code and modules), this file (globals, protocol, arguments).
 */
#include "xsBudget.h"

#include <errno.h>
#include <limits.h>

static FILE* fromParent;
static FILE* toParent;

/* ---- host functions ----------------------------------------------------------------------- */

static void xs_issueCommand(xsMachine* the);

static void xs_gc(xsMachine* the)
{
	xsCollectGarbage();
}

static void xs_trace(xsMachine* the)
{
	xsIntegerValue c = xsToInteger(xsArgc), i;
	for (i = 0; i < c; i++)
		fputs(xsToString(xsArg(i)), stdout);
	fflush(stdout);
}


void installGlobals(txMachine* the)
{
	xsBeginHost(the);
	xsVars(1);
	xsResult = xsNewHostFunction(xs_issueCommand, 1);
	xsDefine(xsGlobal, xsID("issueCommand"), xsResult, xsDontEnum);
	xsResult = xsNewHostFunction(xs_gc, 0);
	xsDefine(xsGlobal, xsID("gc"), xsResult, xsDontEnum);
	xsResult = xsNewHostFunction(xs_trace, 1);
	xsDefine(xsGlobal, xsID("trace"), xsResult, xsDontEnum);
	xsResult = xsNewHostFunction(xs_memoryUsage, 1);
	xsDefine(xsGlobal, xsID("memoryUsage"), xsResult, xsDontEnum);
	xsEndHost(the);
	installNativeCrypt(the);
}

/* ---- protocol ----------------------------------------------------------------------------- */

static int readNetstring(FILE* in, char** dest, size_t* length)
{
	char* buffer;
	if (fscanf(in, "%9zu", length) < 1)
		return 1;
	if (fgetc(in) != ':')
		return 2;
	buffer = malloc(*length + 1);
	if (!buffer)
		return 3;
	if (fread(buffer, 1, *length, in) < *length || fgetc(in) != ',') {
		free(buffer);
		return 4;
	}
	buffer[*length] = 0;
	*dest = buffer;
	return 0;
}

static void writeNetstring(FILE* out, const char* prefix, const char* data, size_t length)
{
	if (fprintf(out, "%zu:%s", strlen(prefix) + length, prefix) < 1 || fwrite(data, 1, length, out) < length || fputc(',', out) == EOF || fflush(out))
		fatal(EXIT_IO_ERROR, "I/O error", "pipe", "cannot write to the parent: %s", strerror(errno));
}

static void writeOkay(txMachine* the, xsUnsignedValue compute, const char* data, size_t length)
{
	char prefix[sizeof(gDeepest) + 1024];
	txSize chunks = appChunks(the), slots = appSlots(the);
	snprintf(prefix, sizeof(prefix),
		".{\"currentHeapCount\":%ld,\"compute\":%lu,\"allocate\":%lu,\"memory\":{"
		"\"chunks\":%ld,\"chunksPeak\":%ld,\"slots\":%ld,\"slotsPeak\":%ld,\"stack\":%ld,\"stackPeak\":%ld,"
		"\"collections\":%ld,\"romChunks\":%ld,\"romSlots\":%ld,\"romKeys\":%ld,\"keys\":%ld,\"deepest\":\"%s\"}}\1",
		(long)the->currentHeapCount, (unsigned long)compute, (unsigned long)the->allocatedSpace,
		(long)chunks, (long)(gPeaks.chunksPeak > chunks ? gPeaks.chunksPeak : chunks),
		(long)slots, (long)(gPeaks.slotsPeak > slots ? gPeaks.slotsPeak : slots),
		(long)stackDepth(the), (long)stackPeakDepth(the), (long)gPeaks.collections,
		(long)gRom.chunks, (long)gRom.slots, (long)gRom.keys, (long)(the->keyIndex - gRom.keys), gDeepest);
	writeNetstring(toParent, prefix, data, length);
}

static void xs_issueCommand(xsMachine* the)
{
	char* reply;
	size_t length;
	if (xsToInteger(xsArgc) < 1)
		xsTypeError("expected ArrayBuffer");
	length = xsGetArrayBufferLength(xsArg(0));
	writeNetstring(toParent, "?", xsToArrayBuffer(xsArg(0)), length);
	if (readNetstring(fromParent, &reply, &length)) {
		if (feof(fromParent))
			fatal(EXIT_IO_ERROR, "I/O error", "pipe", "end of input while waiting for an answer to issueCommand");
		xsUnknownError("cannot read the answer to issueCommand");
	}
	if (length == 0 || reply[0] != '/') {
		free(reply);
		xsUnknownError("unexpected answer to issueCommand");
	}
	xsResult = xsArrayBuffer(reply + 1, (xsIntegerValue)(length - 1));
	free(reply);
}

/* Runs one `e` or `?` command on `the` and answers it. */
static void runCommand(txMachine* the, char command, char* payload, size_t length, txScript* loaded)
{
	int failed = 0;
	char* response = NULL;
	size_t responseLength = 0;
	xsSetCurrentMeter(the, 0);
	gCurrentLimit = gMeteringLimit;
	resetPeaks(the);
	xsBeginHost(the);
	{
		xsVars(3);
		xsTry {
			if (command == '?') {
				xsVar(0) = xsArrayBuffer(payload, (xsIntegerValue)length);
				xsVar(1) = xsCall1(xsGlobal, xsID("handleCommand"), xsVar(0));
			}
			else {
				txScript* script = loaded ? loaded : loadScript(the, payload, length, PROGRAM_FLAGS);
				if (!script)
					xsSyntaxError("the script does not parse (the parser's report is on stderr)");
				runScript(the, script, &xsVar(1));
			}
		}
		xsCatch {
			failed = 1;
			xsVar(1) = xsException;
			xsException = xsUndefined;
		}
	}
	fxRunLoop(the);
	trackPeaks(the);
	{
		xsUnsignedValue compute = xsGetCurrentMeter(the);
		gCurrentLimit = 0;
		if (failed) {
			response = xsToString(xsVar(1));
			writeNetstring(toParent, "!", response, strlen(response));
		}
		else {
			xsTry {
				xsVar(2) = (xsTypeOf(xsVar(1)) == xsReferenceType && xsHas(xsVar(1), xsID("result"))) ? xsGet(xsVar(1), xsID("result")) : xsVar(1);
				if (xsIsInstanceOf(xsVar(2), xsArrayBufferPrototype)) {
					responseLength = xsGetArrayBufferLength(xsVar(2));
					response = xsToArrayBuffer(xsVar(2));
				}
			}
			xsCatch {
				xsException = xsUndefined;
			}
			writeOkay(the, compute, response ? response : "", responseLength);
		}
	}
	xsEndHost(the);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: xs-budget [name] [-l <metering limit>] [--chunk <bytes>] [--heap <slots>] [--stack <slots>]\n"
		"                 [--keys <runtime keys>] [--name-modulo <n>] [--symbol-modulo <n>] [--load-stack <slots>]\n"
		"                 [--modules <dir> [--preload-module <name>]...]\n"
		"commands arrive as netstrings on fd 3, answers leave on fd 4 (see the source's header)\n");
}

static long numberArgument(int argc, char* argv[], int* i)
{
	char* end;
	long value;
	if (*i + 1 >= argc) {
		usage();
		exit(EXIT_BAD_USAGE);
	}
	value = strtol(argv[++*i], &end, 10);
	if (*end || value < 0 || value > INT_MAX) {
		fprintf(stderr, "xs-budget: %s wants a non-negative integer, not %s\n", argv[*i - 1], argv[*i]);
		exit(EXIT_BAD_USAGE);
	}
	return value;
}

int main(int argc, char* argv[])
{
	int i;
	char* message;
	size_t length;
	txMachine* machine = NULL;
	txScript* loaded = NULL;

	for (i = 1; i < argc; i++) {
		if (argv[i][0] != '-')
			continue; /* a name, for ps */
		if (!strcmp(argv[i], "-l")) gMeteringLimit = (xsUnsignedValue)numberArgument(argc, argv, &i);
		else if (!strcmp(argv[i], "--chunk")) gBudget.chunk = (txSize)numberArgument(argc, argv, &i);
		else if (!strcmp(argv[i], "--heap")) gBudget.heap = (txSize)numberArgument(argc, argv, &i);
		else if (!strcmp(argv[i], "--stack")) gBudget.stack = (txSize)numberArgument(argc, argv, &i);
		else if (!strcmp(argv[i], "--keys")) gBudget.keys = (txSize)numberArgument(argc, argv, &i);
		else if (!strcmp(argv[i], "--name-modulo")) gBudget.nameModulo = (txSize)numberArgument(argc, argv, &i);
		else if (!strcmp(argv[i], "--symbol-modulo")) gBudget.symbolModulo = (txSize)numberArgument(argc, argv, &i);
		else if (!strcmp(argv[i], "--load-stack")) gLoadStack = (txSize)numberArgument(argc, argv, &i);
		else if (!strcmp(argv[i], "--modules") && i + 1 < argc) gModulesDir = argv[++i];
		else if (!strcmp(argv[i], "--preload-module") && i + 1 < argc && gPreloadModuleCount < 256) gPreloadModules[gPreloadModuleCount++] = argv[++i];
		else {
			usage();
			return EXIT_BAD_USAGE;
		}
	}
	if (gBudget.chunk < 1024 || gBudget.heap < 64 || gBudget.stack < 64 || gBudget.nameModulo < 1 || gBudget.symbolModulo < 1) {
		fprintf(stderr, "xs-budget: creation too small to run anything\n");
		return EXIT_BAD_USAGE;
	}
	gSlackChunks = gBudget.chunk / 200;
	gSlackSlots = gBudget.heap / 200;

	signal(SIGPIPE, SIG_IGN);
	if (!(fromParent = fdopen(3, "rb")) || !(toParent = fdopen(4, "wb"))) {
		fprintf(stderr, "xs-budget: fd 3 and 4 must be open (commands in, answers out)\n");
		return EXIT_IO_ERROR;
	}
	xsInitializeSharedCluster();

	/* Until a first script loads there is no machine: its code decides the flash part. */
	while (!machine) {
		if (readNetstring(fromParent, &message, &length))
			return feof(fromParent) ? 0 : EXIT_IO_ERROR;
		if (message[0] == 'q')
			return 0;
		if (message[0] != 'e') {
			const char* text = "xs-budget: the first command must load a script (e)";
			writeNetstring(toParent, "!", text, strlen(text));
		}
		else if (!(machine = createBudgetMachine(message + 1, length - 1, &loaded))) {
			const char* text = "SyntaxError: the script does not parse (the parser's report is on stderr)";
			writeNetstring(toParent, "!", text, strlen(text));
		}
		if (!machine)
			free(message);
	}

	xsBeginMetering(machine, meteringCallback, 1);
	{
		char done = 0;
		/* The first script is loaded already; it runs as the first command. */
		/* Separate modules load as on the device: the stack is the creation's from the start. */
		if (gModulesDir)
			sealStack(machine);
		runCommand(machine, 'e', NULL, 0, loaded);
		free(message);
		/* A bundle has returned: from now on the stack is the creation's. */
		if (!gModulesDir)
			sealStack(machine);
		while (!done) {
			if (readNetstring(fromParent, &message, &length)) {
				if (feof(fromParent))
					break;
				fatal(EXIT_IO_ERROR, "I/O error", "pipe", "cannot read a command");
			}
			switch (message[0]) {
			case 'e':
			case '?':
				runCommand(machine, message[0], message + 1, length - 1, NULL);
				break;
			case 'q':
				done = 1;
				break;
			default: {
				const char* text = "xs-budget: unknown command (e, ? and q are known)";
				writeNetstring(toParent, "!", text, strlen(text));
			}
			}
			free(message);
		}
	}
	xsEndMetering(machine);
	if (machine->abortStatus)
		return EXIT_UNHANDLED_EXCEPTION;
	machine->stackBottom = gStackAllocation;
	xsDeleteMachine(machine);
	xsTerminateSharedCluster();
	return 0;
}
