/*
 * xs-budget: the device's native crypto. On the ESP32 the firmware's crypto primitives are
 * Moddable's `crypt` and `curve` modules, C underneath (firmware/hal/moddable/nativePrimitives.ts);
 * here the same three operations are C too, over the machine's libcrypto, so the budget counts
 * what the device's JavaScript holds around them (arguments, results) and not a JavaScript AES.
 * test/xs/budget/native/*.ts give them the modules' shapes. Like the device's, they keep nothing
 * in the JS heap but the result they return, and wipe their own copies of keys.
 *
 *   new nativeCrypt.BlockCipher("AES", key)       the cipher: a copy of the key, as the device's C
 *                                                 keeps its schedule (the caller may wipe `key`)
 *   new nativeCrypt.Mode(mode, cipher, iv, pad)   ECB or CBC over the cipher, unpadded, whose
 *                                                 encrypt(data) / decrypt(data) return ArrayBuffers
 *   nativeCrypt.sha256(data)                      SHA-256
 *   nativeCrypt.sha256Begin() / sha256Update(state, data) / sha256Finish(state)
 *                                                 SHA-256 in parts (the Digest's write/close): the
 *                                                 state is a context-sized ArrayBuffer, as small as
 *                                                 the device's C context, whatever the length hashed
 *   nativeCrypt.p256(scalar, point?)              scalar x point (or the base point), uncompressed
 *
 * Bytes arrive as an ArrayBuffer or a typed-array view; a wrong length or a point off the curve
 * is a TypeError/RangeError, as the device's modules throw.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "xsBudget.h"
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/sha.h>

/* The bytes of an ArrayBuffer or of a view's window on one: pointer into the chunk, and length.
   Valid until the next allocation; callers copy what they need first. */
static uint8_t* bytesOf(xsMachine* the, xsSlot* value, size_t* length)
{
	if (xsIsInstanceOf(*value, xsArrayBufferPrototype)) {
		*length = (size_t)xsGetArrayBufferLength(*value);
		return (uint8_t*)xsToArrayBuffer(*value);
	}
	if (xsTypeOf(*value) != xsReferenceType || !xsHas(*value, xsID("buffer")))
		xsTypeError("expected an ArrayBuffer or a typed array");
	xsSlot buffer = xsGet(*value, xsID("buffer"));
	size_t offset = (size_t)xsToInteger(xsGet(*value, xsID("byteOffset")));
	*length = (size_t)xsToInteger(xsGet(*value, xsID("byteLength")));
	return (uint8_t*)xsToArrayBuffer(buffer) + offset;
}

/* A copy of an argument's bytes on the C heap (the device's crypt copies into its own context). */
static uint8_t* copyOf(xsMachine* the, xsSlot* value, size_t* length)
{
	uint8_t* data = bytesOf(the, value, length);
	uint8_t* copy = malloc(*length ? *length : 1);
	if (!copy)
		xsUnknownError("out of host memory");
	memcpy(copy, data, *length);
	return copy;
}

static void freeWiped(void* data, size_t length)
{
	if (data) {
		OPENSSL_cleanse(data, length);
		free(data);
	}
}

/* AES over copies of the arguments; the result replaces xsResult. */
static void runAes(xsMachine* the, int cbc, int decrypt, xsSlot* keyArg, xsSlot* ivArg, xsSlot* dataArg)
{
	size_t keyLength, ivLength = 0, dataLength;
	uint8_t* key = copyOf(the, keyArg, &keyLength);
	uint8_t* iv = cbc ? copyOf(the, ivArg, &ivLength) : NULL;
	uint8_t* data = copyOf(the, dataArg, &dataLength);
	const EVP_CIPHER* cipher = NULL;
	switch (keyLength) {
	case 16: cipher = cbc ? EVP_aes_128_cbc() : EVP_aes_128_ecb(); break;
	case 24: cipher = cbc ? EVP_aes_192_cbc() : EVP_aes_192_ecb(); break;
	case 32: cipher = cbc ? EVP_aes_256_cbc() : EVP_aes_256_ecb(); break;
	}
	int ok = cipher && (!cbc || ivLength == 16) && dataLength % 16 == 0;
	int written = 0;
	EVP_CIPHER_CTX* context = ok ? EVP_CIPHER_CTX_new() : NULL;
	ok = ok && context && EVP_CipherInit_ex(context, cipher, NULL, key, iv, !decrypt) && EVP_CIPHER_CTX_set_padding(context, 0)
		&& EVP_CipherUpdate(context, data, &written, data, (int)dataLength) && written == (int)dataLength;
	EVP_CIPHER_CTX_free(context);
	freeWiped(key, keyLength);
	freeWiped(iv, ivLength);
	if (!ok) {
		freeWiped(data, dataLength);
		xsRangeError("AES: a 16, 24 or 32-byte key, a 16-byte IV for CBC and whole blocks");
	}
	xsResult = xsArrayBuffer(data, (xsIntegerValue)dataLength);
	freeWiped(data, dataLength);
}

/* new Mode("ECB" | "CBC", cipher, iv, pad): an object of Mode.prototype holding the cipher's key
   and the IV (pad must be false: paypad pads nothing). */
static void xs_mode(xsMachine* the)
{
	xsVars(2);
	if (xsToInteger(xsArgc) < 2)
		xsTypeError("crypt: Mode(mode, cipher, iv, pad)");
	int cbc = !strcmp(xsToString(xsArg(0)), "CBC");
	if (!cbc && strcmp(xsToString(xsArg(0)), "ECB"))
		xsTypeError("crypt: only ECB and CBC are built in");
	if (xsToInteger(xsArgc) > 3 && xsToBoolean(xsArg(3)))
		xsTypeError("crypt: only unpadded modes are built in");
	xsVar(0) = xsGet(xsGlobal, xsID("Object"));
	xsVar(1) = xsGet(xsTarget, xsID("prototype"));
	xsResult = xsCall1(xsVar(0), xsID("create"), xsVar(1));
	xsDefine(xsResult, xsID("cbc"), xsBoolean(cbc), xsDontSet);
	xsDefine(xsResult, xsID("key"), xsGet(xsArg(1), xsID("key")), xsDontSet);
	if (cbc) {
		if (xsToInteger(xsArgc) < 3)
			xsTypeError("crypt: CBC needs an IV");
		size_t length;
		uint8_t* iv = copyOf(the, &xsArg(2), &length);
		xsDefine(xsResult, xsID("iv"), xsArrayBuffer(iv, (xsIntegerValue)length), xsDontSet);
		free(iv);
	}
}

static void modeRun(xsMachine* the, int decrypt)
{
	xsVars(3);
	int cbc = xsToBoolean(xsGet(xsThis, xsID("cbc")));
	xsVar(0) = xsGet(xsThis, xsID("key"));
	xsVar(1) = cbc ? xsGet(xsThis, xsID("iv")) : xsUndefined;
	xsVar(2) = xsArg(0);
	runAes(the, cbc, decrypt, &xsVar(0), &xsVar(1), &xsVar(2));
}

static void xs_mode_encrypt(xsMachine* the) { modeRun(the, 0); }
static void xs_mode_decrypt(xsMachine* the) { modeRun(the, 1); }

/* A host constructor, as the device's BlockCipher is: returns { key } holding its own copy. */
static void xs_blockCipher(xsMachine* the)
{
	size_t length;
	uint8_t* key;
	if (xsToInteger(xsArgc) < 2 || strcmp(xsToString(xsArg(0)), "AES"))
		xsTypeError("crypt: only AES is built in");
	key = copyOf(the, &xsArg(1), &length);
	if (length != 16 && length != 24 && length != 32) {
		freeWiped(key, length);
		xsRangeError("AES: a 16, 24 or 32-byte key");
	}
	xsResult = xsNewObject();
	xsDefine(xsResult, xsID("key"), xsArrayBuffer(key, (xsIntegerValue)length), xsDontSet);
	freeWiped(key, length);
}

static void xs_sha256(xsMachine* the)
{
	size_t length;
	uint8_t* data = copyOf(the, &xsArg(0), &length);
	uint8_t digest[32];
	unsigned int digestLength = 0;
	int ok = EVP_Digest(data, length, digest, &digestLength, EVP_sha256(), NULL);
	freeWiped(data, length);
	if (!ok || digestLength != sizeof(digest))
		xsUnknownError("SHA-256 failed");
	xsResult = xsArrayBuffer(digest, sizeof(digest));
}

static void xs_sha256Begin(xsMachine* the)
{
	SHA256_CTX context;
	if (!SHA256_Init(&context))
		xsUnknownError("SHA-256 failed");
	xsResult = xsArrayBuffer(&context, sizeof(context));
	OPENSSL_cleanse(&context, sizeof(context));
}

/* The state's ArrayBuffer, checked to be one made by sha256Begin. */
static SHA256_CTX* sha256State(xsMachine* the)
{
	if (!xsIsInstanceOf(xsArg(0), xsArrayBufferPrototype) || xsGetArrayBufferLength(xsArg(0)) != (xsIntegerValue)sizeof(SHA256_CTX))
		xsTypeError("SHA-256: expected a state from sha256Begin");
	return (SHA256_CTX*)xsToArrayBuffer(xsArg(0));
}

static void xs_sha256Update(xsMachine* the)
{
	size_t length;
	uint8_t* data = copyOf(the, &xsArg(1), &length);
	int ok = SHA256_Update(sha256State(the), data, length);
	freeWiped(data, length);
	if (!ok)
		xsUnknownError("SHA-256 failed");
}

static void xs_sha256Finish(xsMachine* the)
{
	uint8_t digest[32];
	SHA256_CTX* context = sha256State(the);
	int ok = SHA256_Final(digest, context);
	OPENSSL_cleanse(context, sizeof(*context));
	if (!ok)
		xsUnknownError("SHA-256 failed");
	xsResult = xsArrayBuffer(digest, sizeof(digest));
}

static void xs_p256(xsMachine* the)
{
	size_t scalarLength, pointLength = 0;
	uint8_t* scalar = copyOf(the, &xsArg(0), &scalarLength);
	uint8_t* peer = xsToInteger(xsArgc) > 1 && xsTypeOf(xsArg(1)) != xsUndefinedType ? copyOf(the, &xsArg(1), &pointLength) : NULL;
	uint8_t out[65];
	EC_GROUP* group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	EC_POINT* point = group ? EC_POINT_new(group) : NULL;
	EC_POINT* product = group ? EC_POINT_new(group) : NULL;
	BIGNUM* k = scalarLength == 32 ? BN_bin2bn(scalar, 32, NULL) : NULL;
	int ok = group && point && product && k && !BN_is_zero(k);
	if (ok && peer)
		ok = pointLength == 65 && EC_POINT_oct2point(group, point, peer, pointLength, NULL) && !EC_POINT_is_at_infinity(group, point);
	if (ok)
		ok = peer ? EC_POINT_mul(group, product, NULL, point, k, NULL) : EC_POINT_mul(group, product, k, NULL, NULL, NULL);
	ok = ok && !EC_POINT_is_at_infinity(group, product)
		&& EC_POINT_point2oct(group, product, POINT_CONVERSION_UNCOMPRESSED, out, sizeof(out), NULL) == sizeof(out);
	BN_clear_free(k);
	EC_POINT_clear_free(product);
	EC_POINT_free(point);
	EC_GROUP_free(group);
	freeWiped(scalar, scalarLength);
	freeWiped(peer, pointLength);
	if (!ok) {
		OPENSSL_cleanse(out, sizeof(out));
		xsRangeError("P-256: a 32-byte scalar and an uncompressed point on the curve");
	}
	xsResult = xsArrayBuffer(out, sizeof(out));
	OPENSSL_cleanse(out, sizeof(out));
}

void installNativeCrypt(txMachine* the)
{
	xsBeginHost(the);
	xsVars(3);
	xsVar(0) = xsNewObject();
	xsVar(1) = xsNewHostConstructor(xs_blockCipher, 2, xsObjectPrototype);
	xsDefine(xsVar(0), xsID("BlockCipher"), xsVar(1), xsDontEnum);
	xsVar(1) = xsNewObject();
	xsVar(2) = xsNewHostFunction(xs_mode_encrypt, 1);
	xsDefine(xsVar(1), xsID("encrypt"), xsVar(2), xsDontEnum);
	xsVar(2) = xsNewHostFunction(xs_mode_decrypt, 1);
	xsDefine(xsVar(1), xsID("decrypt"), xsVar(2), xsDontEnum);
	xsVar(1) = xsNewHostConstructor(xs_mode, 4, xsVar(1));
	xsDefine(xsVar(0), xsID("Mode"), xsVar(1), xsDontEnum);
	xsVar(1) = xsNewHostFunction(xs_sha256, 1);
	xsDefine(xsVar(0), xsID("sha256"), xsVar(1), xsDontEnum);
	xsVar(1) = xsNewHostFunction(xs_sha256Begin, 0);
	xsDefine(xsVar(0), xsID("sha256Begin"), xsVar(1), xsDontEnum);
	xsVar(1) = xsNewHostFunction(xs_sha256Update, 2);
	xsDefine(xsVar(0), xsID("sha256Update"), xsVar(1), xsDontEnum);
	xsVar(1) = xsNewHostFunction(xs_sha256Finish, 1);
	xsDefine(xsVar(0), xsID("sha256Finish"), xsVar(1), xsDontEnum);
	xsVar(1) = xsNewHostFunction(xs_p256, 2);
	xsDefine(xsVar(0), xsID("p256"), xsVar(1), xsDontEnum);
	xsDefine(xsGlobal, xsID("nativeCrypt"), xsVar(0), xsDontEnum);
	xsEndHost(the);
}
