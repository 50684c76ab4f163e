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
 */
#include "xsAll.h"
#include "xsScript.h"
#include "xsnap.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>

extern void fxRemapIDs(txMachine* the, txByte* codeBuffer, txSize codeSize, txID* theIDs);
extern txInteger __real_fxMatchRegExp(void* the, txInteger* code, txInteger* data, txString subject, txInteger offset);
extern void __real_fxAbort(txMachine* the, int status);
extern void fxResolveModule(txMachine* the, txSlot* module, txID moduleID, txScript* script, void* data, txDestructor destructor);

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

static Budget gBudget = { 78848, 4928, 512, 256, 127, 127 };
static txSize gLoadStack = 2048;
/* Stack slots XS 17's fxCloneMachine keeps on a device machine's own stack (global, program,
   job queues...; the built-ins' prototypes stay with the machine in flash). XS 13.3 here keeps
   ~150 more (every prototype): those are not the app's. */
#define DEVICE_STACK_ROOTS 32
static txSize gStackBase = 0;
static char gDeepest[2048];
/* The deepest stack this host has seen at a sample (XS also records depths when functions
   return, which the chain in gDeepest cannot follow). */
static txSlot* gSampledStackPeak = NULL;

/* --modules: the module table of the machine being built (probe, then real). */
typedef struct {
	char* name;
	txScript* script;
} Module;
static const char* gModulesDir = NULL;
static Module* gModules = NULL;
static int gModuleCount = 0;
static int gModuleCapacity = 0;
static const char* gPreloadModules[256];
static int gPreloadModuleCount = 0;
static txSlot* gStackAllocation = NULL;
static Rom gRom;
static Peaks gPeaks;
static txSize gSlackChunks, gSlackSlots;
static txBoolean gMeasuring = 0;
static int gInRegExp = 0;
static xsUnsignedValue gMeteringLimit = 0;
static xsUnsignedValue gCurrentLimit = 0;
static char gLastReport[512];

static FILE* fromParent;
static FILE* toParent;

/* JavaScript run in both machines before any script: freezes what the device has in flash. */
static const char gFreezeBuiltins[] =
	"(function () {\n"
	"  const seen = new WeakSet();\n"
	"  const todo = [];\n"
	"  const add = (o) => { if ((typeof o === 'object' || typeof o === 'function') && o !== null && o !== globalThis && !seen.has(o)) { seen.add(o); todo.push(o); } };\n"
	"  for (const key of Reflect.ownKeys(globalThis)) { const d = Reflect.getOwnPropertyDescriptor(globalThis, key); if ('value' in d) add(d.value); }\n"
	"  add(Reflect.getPrototypeOf(function* () {})); add(Reflect.getPrototypeOf(async function () {}));\n"
	"  add(Reflect.getPrototypeOf(async function* () {})); add(Reflect.getPrototypeOf(Int8Array));\n"
	"  add(Reflect.getPrototypeOf([][Symbol.iterator]())); add(Reflect.getPrototypeOf(new Map()[Symbol.iterator]()));\n"
	"  add(Reflect.getPrototypeOf(new Set()[Symbol.iterator]())); add(Reflect.getPrototypeOf(''[Symbol.iterator]()));\n"
	"  add(Reflect.getPrototypeOf(/x/[Symbol.matchAll]('')));\n"
	"  add(Reflect.getOwnPropertyDescriptor(Function.prototype, 'caller').get);\n"
	"  while (todo.length > 0) {\n"
	"    const o = todo.pop();\n"
	"    Object.freeze(o);\n"
	"    add(Reflect.getPrototypeOf(o));\n"
	"    for (const key of Reflect.ownKeys(o)) { const d = Reflect.getOwnPropertyDescriptor(o, key); if ('value' in d) add(d.value); else { add(d.get); add(d.set); } }\n"
	"  }\n"
	"})();\n";

/* ---- reports ------------------------------------------------------------------------------ */

static txSize appChunks(txMachine* the) { return the->currentChunksSize - gRom.chunks; }
static txSize appSlots(txMachine* the) { return the->currentHeapCount - gRom.slots; }
/* Stack depths as the device would see them: the host's own roots replaced by the device's. */
static txSize stackDepth(txMachine* the) { return (txSize)(the->stackTop - the->stack) - gStackBase + DEVICE_STACK_ROOTS; }
static txSize stackPeakDepth(txMachine* the) { return (txSize)(the->stackTop - the->stackPeak) - gStackBase + DEVICE_STACK_ROOTS; }

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

static void fatal(int code, const char* reason, const char* resource, const char* format, ...)
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

static void resetPeaks(txMachine* the)
{
	gPeaks.chunksPeak = appChunks(the);
	gPeaks.slotsPeak = appSlots(the);
	the->stackPeak = the->stack;
	gSampledStackPeak = the->stack;
	gDeepest[0] = 0;
}

/* The live high-water mark: collect when use passes the peak by more than the slack. */
static void trackPeaks(txMachine* the)
{
	if (the->stack < gSampledStackPeak) {
		gSampledStackPeak = the->stack;
		recordDeepest(the);
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

static xsBooleanValue meteringCallback(xsMachine* the, xsUnsignedValue index)
{
	if (gCurrentLimit > 0 && index > gCurrentLimit)
		return 0;
	if (gMeasuring && !gInRegExp)
		trackPeaks(the);
	return 1;
}

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

static void xs_memoryUsage(xsMachine* the)
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

static void installGlobals(txMachine* the)
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
}

/* ---- loading: byte code and names stay outside the heap, as in the device's flash ---------- */

/* Function bodies and string literals run from the byte code in place (XS_CODE_X_KIND,
   XS_STRING_X_KIND) instead of being copied into chunks: what the archive opcodes do. */
static void archiveCode(txByte* p, txByte* end)
{
	while (p < end) {
		txU1 op = *(txU1*)p;
		txS1 size = gxCodeSizes[op];
		if (op == XS_CODE_CODE_1 || op == XS_CODE_CODE_2 || op == XS_CODE_CODE_4)
			*(txU1*)p = (txU1)(XS_CODE_CODE_ARCHIVE_1 + (op - XS_CODE_CODE_1));
		else if (op == XS_CODE_STRING_1 || op == XS_CODE_STRING_2 || op == XS_CODE_STRING_4)
			*(txU1*)p = (txU1)(XS_CODE_STRING_ARCHIVE_1 + (op - XS_CODE_STRING_1));
		if (size > 0)
			p += size;
		else if (size == 0)
			p += 1 + sizeof(txID);
		else if (size == -1)
			p += 2 + *(txU1*)(p + 1);
		else if (size == -2) {
			txU2 length;
			p++;
			mxDecode2(p, length);
			p += length;
		}
		else {
			txS4 length;
			p++;
			mxDecode4(p, length);
			p += length;
		}
	}
}

/* Parses `source`, creates its names and rewrites its code; the script is never freed. NULL
   (with the parser's report on stderr) if it does not parse. Call inside a host frame. */
static txScript* loadScript(txMachine* the, char* source, size_t length, txUnsigned flags)
{
	txStringCStream stream = { source, 0, (txSize)length };
	txScript* script = fxParseScript(the, &stream, fxStringCGetter, flags);
	if (!script)
		return NULL;
	if (script->symbolsBuffer) {
		txByte* p = (txByte*)script->symbolsBuffer;
		txID count, i;
		txID* ids;
		mxDecodeID(p, count);
		ids = c_malloc(count * sizeof(txID));
		if (!ids)
			fatal(EXIT_HARNESS, "harness", "loading", "out of C memory");
		ids[0] = XS_NO_ID;
		for (i = 1; i < count; i++) {
			ids[i] = fxNewNameC(the, (txString)p);
			p += mxStringLength((char*)p) + 1;
		}
		fxRemapIDs(the, (txByte*)script->codeBuffer, script->codeSize, ids);
		c_free(ids);
		c_free(script->symbolsBuffer);
		script->symbolsBuffer = NULL;
	}
	archiveCode((txByte*)script->codeBuffer, (txByte*)script->codeBuffer + script->codeSize);
	return script;
}

#define PROGRAM_FLAGS (mxProgramFlag | mxStrictFlag)

static void runScript(txMachine* the, txScript* script, txSlot* result);

/* Reads every .js file under `dir` (recursively) as a module named by its path below the root. */
static void parseModules(txMachine* the, const char* root, const char* relative)
{
	char path[PATH_MAX];
	DIR* dir;
	struct dirent* entry;
	snprintf(path, sizeof(path), "%s%s%s", root, *relative ? "/" : "", relative);
	if (!(dir = opendir(path)))
		fatal(EXIT_HARNESS, "harness", "loading", "cannot read the module directory %s: %s", path, strerror(errno));
	while ((entry = readdir(dir))) {
		char name[PATH_MAX];
		struct stat info;
		size_t length;
		if (entry->d_name[0] == '.')
			continue;
		snprintf(name, sizeof(name), "%s%s%s", relative, *relative ? "/" : "", entry->d_name);
		snprintf(path, sizeof(path), "%s/%s", root, name);
		if (stat(path, &info))
			continue;
		if (S_ISDIR(info.st_mode)) {
			parseModules(the, root, name);
			continue;
		}
		length = strlen(name);
		if (length < 4 || strcmp(name + length - 3, ".js"))
			continue;
		FILE* file = fopen(path, "rb");
		char* source = file ? malloc(info.st_size + 1) : NULL;
		if (!source || fread(source, 1, info.st_size, file) != (size_t)info.st_size)
			fatal(EXIT_HARNESS, "harness", "loading", "cannot read %s", path);
		fclose(file);
		source[info.st_size] = 0;
		name[length - 3] = 0;
		txScript* script = loadScript(the, source, info.st_size, 0);
		free(source);
		if (!script)
			fatal(EXIT_HARNESS, "harness", "loading", "module %s does not parse", name);
		if (gModuleCount == gModuleCapacity) {
			gModuleCapacity = gModuleCapacity ? 2 * gModuleCapacity : 64;
			gModules = realloc(gModules, gModuleCapacity * sizeof(Module));
			if (!gModules)
				fatal(EXIT_HARNESS, "harness", "loading", "out of C memory");
		}
		gModules[gModuleCount].name = strdup(name);
		gModules[gModuleCount].script = script;
		gModuleCount++;
		fxNewNameC(the, name);
	}
	closedir(dir);
}

/* XS asks for a module it has not loaded: hand it the parsed one. */
void __wrap_fxLoadModule(txMachine* the, txSlot* module, txID moduleID)
{
	const char* name = fxGetKeyName(the, moduleID);
	int i;
	for (i = 0; name && i < gModuleCount; i++) {
		if (gModules[i].script && !strcmp(gModules[i].name, name)) {
			txScript* script = gModules[i].script;
			gModules[i].script = NULL; /* a module runs once per machine */
			fxResolveModule(the, module, moduleID, script, C_NULL, C_NULL);
			return;
		}
	}
}

static void xs_preloadFailed(xsMachine* the)
{
	fatal(EXIT_HARNESS, "harness", "loading", "a preloaded module failed: %s", xsToString(xsArg(0)));
}

/* Imports the --preload-module modules: what they make is then part of the flash measurement. */
static void preloadModules(txMachine* the)
{
	char source[16384];
	size_t used = 0;
	int i;
	if (gPreloadModuleCount == 0)
		return;
	used += snprintf(source + used, sizeof(source) - used, "Promise.all([");
	for (i = 0; i < gPreloadModuleCount && used + 512 < sizeof(source); i++)
		used += snprintf(source + used, sizeof(source) - used, "%simport(\"%s\")", i ? ", " : "", gPreloadModules[i]);
	used += snprintf(source + used, sizeof(source) - used, "]).catch((e) => preloadFailed(String(e)));");
	xsBeginHost(the);
	{
		xsVars(1);
		xsVar(0) = xsNewHostFunction(xs_preloadFailed, 1);
		xsDefine(xsGlobal, xsID("preloadFailed"), xsVar(0), xsDontEnum);
		txScript* script = loadScript(the, source, used, PROGRAM_FLAGS);
		runScript(the, script, &xsVar(0));
	}
	xsEndHost(the);
	fxRunLoop(the);
	xsBeginHost(the);
	xsDelete(xsGlobal, xsID("preloadFailed"));
	xsEndHost(the);
}

/* Runs a loaded script as a program; its completion value is left in *result. */
static void runScript(txMachine* the, txScript* script, txSlot* result)
{
	txSlot* realm = mxProgram.value.reference->next->value.module.realm;
	fxRunScript(the, script, mxRealmGlobal(realm), C_NULL, mxRealmClosures(realm)->value.reference, C_NULL, mxProgram.value.reference);
	*result = *the->stack;
	the->stack++;
}

/* A machine with the built-ins, our globals, frozen; NULL creation sizes mean "growable". */
static txMachine* buildMachine(txCreation* creation)
{
	txMachine* the = xsCreateMachine(creation, "xs-budget", NULL);
	if (!the)
		fatal(EXIT_HARNESS, "harness", "loading", "could not create the machine");
	installGlobals(the);
	xsBeginHost(the);
	{
		xsVars(1);
		txScript* script = loadScript(the, (char*)gFreezeBuiltins, sizeof(gFreezeBuiltins) - 1, PROGRAM_FLAGS);
		if (!script)
			fatal(EXIT_HARNESS, "harness", "loading", "the freezing prelude does not parse");
		runScript(the, script, &xsVar(0));
		if (gModulesDir) {
			gModuleCount = 0; /* the other machine's scripts stay where its functions point */
			parseModules(the, gModulesDir, "");
		}
	}
	xsEndHost(the);
	preloadModules(the);
	return the;
}

/* Builds the real machine for `source`: see the header. Replies `!` and returns NULL if the
   script does not parse or throws while the probe loads it. */
static txMachine* createBudgetMachine(char* source, size_t length, txScript** loaded)
{
	txCreation growable = {
		16 * 1024,             /* initialChunkSize */
		16 * 1024,             /* incrementalChunkSize */
		4 * 1024,              /* initialHeapCount */
		1024,                  /* incrementalHeapCount */
		(txSize)(gBudget.stack + gLoadStack), /* stackCount: see --load-stack */
		32000,                 /* initialKeyCount */
		8000,                  /* incrementalKeyCount */
		(txSize)gBudget.nameModulo,
		(txSize)gBudget.symbolModulo,
		8192 * 1024,           /* parserBufferSize */
		1993,                  /* parserTableModulo */
		0,                     /* staticSize */
	};
	txMachine* probe = buildMachine(&growable);
	txScript* script = NULL;
	xsBeginHost(probe);
	{
		script = loadScript(probe, source, length, PROGRAM_FLAGS);
	}
	xsEndHost(probe);
	if (!script) {
		xsDeleteMachine(probe);
		return NULL;
	}
	fxCollect(probe, XS_COMPACT_FLAG);
	gRom.chunks = probe->currentChunksSize;
	gRom.slots = probe->currentHeapCount;
	gRom.keys = probe->keyIndex;
	xsDeleteMachine(probe);

	txCreation fixed = growable;
	fixed.initialChunkSize = gRom.chunks + gBudget.chunk;
	fixed.incrementalChunkSize = 0;
	fixed.initialHeapCount = gRom.slots + gBudget.heap;
	fixed.incrementalHeapCount = 0;
	fixed.initialKeyCount = gRom.keys + gBudget.keys;
	fixed.incrementalKeyCount = 0;
	fixed.stackCount = gBudget.stack + gLoadStack;
	txMachine* the = buildMachine(&fixed);
	gStackAllocation = the->stackBottom;
	gStackBase = (txSize)(the->stackTop - the->stack);
	xsBeginHost(the);
	{
		*loaded = loadScript(the, source, length, PROGRAM_FLAGS);
	}
	xsEndHost(the);
	fxCollect(the, XS_COMPACT_FLAG);
	if (!*loaded || the->currentChunksSize != gRom.chunks || the->currentHeapCount != gRom.slots || the->keyIndex != gRom.keys)
		fatal(EXIT_HARNESS, "harness", "loading", "the second load differs from the first: chunks %ld/%ld, slots %ld/%ld, keys %ld/%ld",
			(long)the->currentChunksSize, (long)gRom.chunks, (long)the->currentHeapCount, (long)gRom.slots, (long)the->keyIndex, (long)gRom.keys);
	if (the->maximumChunksSize - the->currentChunksSize != gBudget.chunk)
		fatal(EXIT_HARNESS, "harness", "loading", "free chunk bytes %ld, expected %ld", (long)(the->maximumChunksSize - the->currentChunksSize), (long)gBudget.chunk);
	gMeasuring = 1;
	resetPeaks(the);
	return the;
}

/* The stack from here on: the creation's, less the roots a device machine keeps on it. */
static void sealStack(txMachine* the)
{
	if (stackDepth(the) > gBudget.stack)
		fatal(EXIT_STACK_OVERFLOW, "stack overflow", "stack", "%ld slots in use after loading, the stack has %ld", (long)stackDepth(the), (long)gBudget.stack);
	the->stackBottom = the->stackTop - gStackBase - (gBudget.stack - DEVICE_STACK_ROOTS);
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
