/*
 * xs-budget: the device's native crypto. On the ESP32 the firmware's crypto primitives are
 * Moddable's `crypt` and `curve` modules, C underneath (firmware/hal/moddable/nativePrimitives.ts);
 * here the same three operations are C too, over the machine's libcrypto, so the budget counts
 * what the device's JavaScript holds around them (arguments, results) and not a JavaScript AES.
 * test/xs/budget/native/*.ts give them the modules' shapes. Like the device's, they keep nothing
 * in the JS heap but the result they return, and wipe their own copies of keys.
 *
 *   nativeCrypt.aes(cbc, decrypt, key, iv, data)  AES-128/192/256 ECB or CBC, no padding
 *   nativeCrypt.sha256(data)                      SHA-256
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

static void xs_aes(xsMachine* the)
{
	int cbc = xsToBoolean(xsArg(0)), decrypt = xsToBoolean(xsArg(1));
	size_t keyLength, ivLength = 0, dataLength;
	uint8_t* key = copyOf(the, &xsArg(2), &keyLength);
	uint8_t* iv = cbc ? copyOf(the, &xsArg(3), &ivLength) : NULL;
	uint8_t* data = copyOf(the, &xsArg(4), &dataLength);
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
	xsVars(2);
	xsVar(0) = xsNewObject();
	xsVar(1) = xsNewHostFunction(xs_aes, 5);
	xsDefine(xsVar(0), xsID("aes"), xsVar(1), xsDontEnum);
	xsVar(1) = xsNewHostFunction(xs_sha256, 1);
	xsDefine(xsVar(0), xsID("sha256"), xsVar(1), xsDontEnum);
	xsVar(1) = xsNewHostFunction(xs_p256, 2);
	xsDefine(xsVar(0), xsID("p256"), xsVar(1), xsDontEnum);
	xsDefine(xsGlobal, xsID("nativeCrypt"), xsVar(0), xsDontEnum);
	xsEndHost(the);
}
