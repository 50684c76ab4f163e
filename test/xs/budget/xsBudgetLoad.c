/*
 * xs-budget: building the machine. A growable probe measures what the built-ins, our globals,
 * the parsed code's names and the preloaded modules hold; the real machine gets that plus the
 * app's creation, fixed. Byte code and string literals stay outside the heap, as in the device's
 * flash.
 */
#include "xsBudget.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>

txSize gLoadStack = 2048;
txSlot* gStackAllocation = NULL;
const char* gModulesDir = NULL;
const char* gPreloadModules[256];
int gPreloadModuleCount = 0;

/* --modules: the module table of the machine being built (probe, then real). */
typedef struct {
	char* name;
	txScript* script;
} Module;
static Module* gModules = NULL;
static int gModuleCount = 0;
static int gModuleCapacity = 0;

extern void fxRemapIDs(txMachine* the, txByte* codeBuffer, txSize codeSize, txID* theIDs);
extern void fxResolveModule(txMachine* the, txSlot* module, txID moduleID, txScript* script, void* data, txDestructor destructor);

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
txScript* loadScript(txMachine* the, char* source, size_t length, txUnsigned flags)
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
void runScript(txMachine* the, txScript* script, txSlot* result)
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
txMachine* createBudgetMachine(char* source, size_t length, txScript** loaded)
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
