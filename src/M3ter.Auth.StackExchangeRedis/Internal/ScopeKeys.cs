using System;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using StackExchange.Redis;

namespace M3ter.Auth.StackExchangeRedis.Internal;

/// <summary>
/// Everything one <see cref="SharedTokenScope"/> needs in Redis, derived from its API secret: the key names (an HMAC of
/// base address and access key id, in one Redis Cluster hash slot), the value's encryption (AES-GCM with a random
/// nonce and a format version; the key name and expiry as associated data, so an entry cannot be moved or have its
/// expiry changed), and a fingerprint of the token for compare-and-delete. None of it contains the access key id, the
/// secret or the token, in plaintext or base64.
/// </summary>
internal sealed class ScopeKeys
{
    public const byte FormatVersion = 1;
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private readonly byte[] _encryptionKey;
    private readonly byte[] _fingerprintKey;
    private readonly byte[] _associatedPrefix;
    private readonly byte[] _refusedAssociated;
    private int _unreadable;
    private long _newestSeenMs;
    private long _newestIssuedMs;
    private long _leaseMaybeHeldUntilTicks;

    public ScopeKeys(SharedTokenScope scope, string keyPrefix)
    {
        byte[] nameKey = scope.DeriveKey("m3ter-auth/redis/entry-name/v1", 32);
        string tag = Base64Url(HMACSHA256.HashData(nameKey, Encoding.UTF8.GetBytes(scope.BaseAddress.AbsoluteUri + "\n" + scope.AccessKeyId)));
        string tokenKey = keyPrefix + "{" + tag + "}:token";
        TokenKey = tokenKey;
        LeaseKey = keyPrefix + "{" + tag + "}:lease";
        string refusedKey = keyPrefix + "{" + tag + "}:refused";
        RefusedKey = refusedKey;
        _refusedAssociated = Encoding.UTF8.GetBytes("m3ter-auth/redis/v1\n" + refusedKey + "\n");
        _encryptionKey = scope.DeriveKey("m3ter-auth/redis/entry-encryption/v1", 32);
        _fingerprintKey = scope.DeriveKey("m3ter-auth/redis/token-fingerprint/v1", 32);
        _associatedPrefix = Encoding.UTF8.GetBytes("m3ter-auth/redis/v1\n" + tokenKey + "\n");
    }

    /// <summary>Gets the key of the token's hash (fields <c>exp</c>, <c>v</c>, <c>fp</c>).</summary>
    public RedisKey TokenKey { get; }

    /// <summary>Gets the key of the lease, in the same hash slot as <see cref="TokenKey"/>.</summary>
    public RedisKey LeaseKey { get; }

    /// <summary>Gets the key of a shared refusal of the credentials (a string, sealed like the token), in the same hash slot.</summary>
    public RedisKey RefusedKey { get; }

    /// <summary>Gets a value indicating whether the last read found an entry this scope cannot read: the next write replaces it.</summary>
    public bool Unreadable => Volatile.Read(ref _unreadable) != 0;

    /// <summary>Records an unreadable entry; true the first time since the last readable one (to log once, not per read).</summary>
    public bool MarkUnreadable() => Interlocked.Exchange(ref _unreadable, 1) == 0;

    /// <summary>Records a readable entry, or one this scope just wrote.</summary>
    public void MarkReadable() => Volatile.Write(ref _unreadable, 0);

    /// <summary>
    /// Whether this process may hold the lease at <paramref name="nowTicks"/>: it took it, or its call to take it got no
    /// answer in time (Redis may have run it), and the lease has not run out since (its last renewal plus its
    /// duration). The write and the release that follow then go to Redis even while the circuit breaker is open: the
    /// outcome of a call that timed out is unknown, not "no". A lease that can no longer be held (a failed release, a
    /// renewal that stopped) stops counting once its duration has passed.
    /// </summary>
    public bool LeaseMaybeHeld(long nowTicks) => nowTicks < Volatile.Read(ref _leaseMaybeHeldUntilTicks);

    /// <summary>Records that the lease may be ours until <paramref name="untilTicks"/> (taken, or renewed).</summary>
    public void LeaseMaybeHeldUntil(long untilTicks) => Volatile.Write(ref _leaseMaybeHeldUntilTicks, untilTicks);

    /// <summary>Records that the lease is not ours: released, or found to be another's.</summary>
    public void LeaseNotHeld() => Volatile.Write(ref _leaseMaybeHeldUntilTicks, 0);

    /// <summary>Gets or sets the renewal of a lease this process holds, or null; changed only under a lock on this object.</summary>
    public object? Renewal { get; set; }

    /// <summary>
    /// Whether an entry expiring at <paramref name="expiresAtUnixMs"/> is older than one this process has already read
    /// or written: an old entry written back (a replay), which is refused like a tampered one.
    /// </summary>
    public bool IsOlderThanSeen(long expiresAtUnixMs) => expiresAtUnixMs < Volatile.Read(ref _newestSeenMs);

    /// <summary>Records the expiry of the entry this process just wrote: it is the entry now, whatever was seen before.</summary>
    public void NoteWritten(long expiresAtUnixMs) => Volatile.Write(ref _newestSeenMs, expiresAtUnixMs);

    /// <summary>Records the expiry of an entry read.</summary>
    public void NoteSeen(long expiresAtUnixMs) => RaiseTo(ref _newestSeenMs, expiresAtUnixMs);

    /// <summary>A one-way fingerprint of the token: enough to compare, useless to an attacker.</summary>
    public string Fingerprint(string accessToken) =>
        Base64Url(HMACSHA256.HashData(_fingerprintKey, Encoding.UTF8.GetBytes(accessToken)));

    /// <summary>Encrypts the token: version, nonce, tag, ciphertext.</summary>
    public byte[] Seal(M3terToken token, long expiresAtUnixMs)
    {
        byte[] type = Encoding.UTF8.GetBytes(token.TokenType);
        byte[] value = Encoding.UTF8.GetBytes(token.AccessToken);
        var plaintext = new byte[8 + 8 + 2 + type.Length + value.Length];
        BinaryPrimitives.WriteInt64LittleEndian(plaintext, token.IssuedAt.UtcTicks);
        BinaryPrimitives.WriteInt64LittleEndian(plaintext.AsSpan(8), token.ExpiresAt.UtcTicks);
        BinaryPrimitives.WriteUInt16LittleEndian(plaintext.AsSpan(16), (ushort)type.Length);
        type.CopyTo(plaintext, 18);
        value.CopyTo(plaintext, 18 + type.Length);
        return SealBytes(plaintext, Bound(_associatedPrefix, expiresAtUnixMs));
    }

    /// <summary>Decrypts and checks an entry; null for anything that is not one this scope wrote (another secret, tampering, garbage).</summary>
    public M3terToken? Open(byte[]? sealedValue, long expiresAtUnixMs)
    {
        if (OpenBytes(sealedValue, 18, Bound(_associatedPrefix, expiresAtUnixMs)) is not byte[] plaintext)
        {
            return null;
        }

        try
        {
            long issued = BinaryPrimitives.ReadInt64LittleEndian(plaintext);
            long expires = BinaryPrimitives.ReadInt64LittleEndian(plaintext.AsSpan(8));
            int typeLength = BinaryPrimitives.ReadUInt16LittleEndian(plaintext.AsSpan(16));
            if (18 + typeLength >= plaintext.Length || expires < DateTimeOffset.MinValue.UtcTicks || expires > DateTimeOffset.MaxValue.UtcTicks || issued < DateTimeOffset.MinValue.UtcTicks || issued > expires)
            {
                return null;
            }

            string type = Encoding.UTF8.GetString(plaintext, 18, typeLength);
            string accessToken = Encoding.UTF8.GetString(plaintext, 18 + typeLength, plaintext.Length - 18 - typeLength);
            return new M3terToken(accessToken, type, new DateTimeOffset(expires, TimeSpan.Zero), new DateTimeOffset(issued, TimeSpan.Zero));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    /// <summary>Records the issue time of a token read or written: a refusal made no later than it is over.</summary>
    public void NoteIssued(long issuedAtUnixMs) => RaiseTo(ref _newestIssuedMs, issuedAtUnixMs);

    /// <summary>Whether a refusal made at <paramref name="refusedAtUnixMs"/> is over: a token this process has read or written was issued no earlier.</summary>
    public bool IsOverByTokenSeen(long refusedAtUnixMs) => refusedAtUnixMs <= Volatile.Read(ref _newestIssuedMs);

    /// <summary>Encrypts a refusal: version, nonce, tag, ciphertext of when, until when, the status and the error code; when it was made is bound to it.</summary>
    public byte[] SealRejection(SharedRejection rejection)
    {
        byte[] error = Encoding.UTF8.GetBytes(rejection.Error ?? string.Empty);
        var plaintext = new byte[8 + 8 + 4 + error.Length];
        BinaryPrimitives.WriteInt64LittleEndian(plaintext, rejection.RefusedAt.UtcTicks);
        BinaryPrimitives.WriteInt64LittleEndian(plaintext.AsSpan(8), rejection.Until.UtcTicks);
        BinaryPrimitives.WriteInt32LittleEndian(plaintext.AsSpan(16), (int)rejection.StatusCode);
        error.CopyTo(plaintext, 20);
        return SealBytes(plaintext, Bound(_refusedAssociated, rejection.RefusedAt.ToUnixTimeMilliseconds()));
    }

    /// <summary>
    /// Decrypts and checks a refusal made at <paramref name="refusedAtUnixMs"/> (as its entry says, and its ciphertext
    /// must agree); null for anything this scope did not write. It ends <paramref name="maxHold"/> after it was made
    /// at the latest, whatever it claims.
    /// </summary>
    public SharedRejection? OpenRejection(byte[]? sealedValue, long refusedAtUnixMs, TimeSpan maxHold)
    {
        if (OpenBytes(sealedValue, 20, Bound(_refusedAssociated, refusedAtUnixMs)) is not byte[] plaintext)
        {
            return null;
        }

        long at = BinaryPrimitives.ReadInt64LittleEndian(plaintext);
        long until = BinaryPrimitives.ReadInt64LittleEndian(plaintext.AsSpan(8));
        int status = BinaryPrimitives.ReadInt32LittleEndian(plaintext.AsSpan(16));
        if (at < DateTimeOffset.MinValue.UtcTicks || until > DateTimeOffset.MaxValue.UtcTicks || at > until || status is < 100 or > 599)
        {
            return null;
        }

        string? error = plaintext.Length > 20 ? Encoding.UTF8.GetString(plaintext, 20, plaintext.Length - 20) : null;
        until = Math.Min(until, at > DateTimeOffset.MaxValue.UtcTicks - maxHold.Ticks ? DateTimeOffset.MaxValue.UtcTicks : at + maxHold.Ticks);
        return new SharedRejection((System.Net.HttpStatusCode)status, error, new DateTimeOffset(at, TimeSpan.Zero), new DateTimeOffset(until, TimeSpan.Zero));
    }

    /// <summary>Raises <paramref name="field"/> to <paramref name="value"/> if it is lower (compare and swap).</summary>
    private static void RaiseTo(ref long field, long value)
    {
        long seen = Volatile.Read(ref field);
        while (value > seen)
        {
            long previous = Interlocked.CompareExchange(ref field, value, seen);
            if (previous == seen)
            {
                return;
            }

            seen = previous;
        }
    }

    /// <summary>Associated data: a fixed prefix (the format and the key name) and a number bound to the value.</summary>
    private static byte[] Bound(byte[] prefix, long value)
    {
        var data = new byte[prefix.Length + 8];
        prefix.CopyTo(data, 0);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(prefix.Length), value);
        return data;
    }

    /// <summary>Encrypts <paramref name="plaintext"/> (then zeroes it): version, random nonce, tag, ciphertext.</summary>
    private byte[] SealBytes(byte[] plaintext, byte[] associatedData)
    {
        var sealedValue = new byte[1 + NonceSize + TagSize + plaintext.Length];
        sealedValue[0] = FormatVersion;
        Span<byte> nonce = sealedValue.AsSpan(1, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_encryptionKey, TagSize);
        aes.Encrypt(nonce, plaintext, sealedValue.AsSpan(1 + NonceSize + TagSize), sealedValue.AsSpan(1 + NonceSize, TagSize), associatedData);
        CryptographicOperations.ZeroMemory(plaintext);
        return sealedValue;
    }

    /// <summary>Decrypts what <see cref="SealBytes"/> made; null for anything shorter than <paramref name="minPlaintext"/> bytes, of another version, or not authentic.</summary>
    private byte[]? OpenBytes(byte[]? sealedValue, int minPlaintext, byte[] associatedData)
    {
        if (sealedValue is null || sealedValue.Length < 1 + NonceSize + TagSize + minPlaintext || sealedValue[0] != FormatVersion)
        {
            return null;
        }

        var plaintext = new byte[sealedValue.Length - 1 - NonceSize - TagSize];
        try
        {
            using var aes = new AesGcm(_encryptionKey, TagSize);
            aes.Decrypt(sealedValue.AsSpan(1, NonceSize), sealedValue.AsSpan(1 + NonceSize + TagSize), sealedValue.AsSpan(1 + NonceSize, TagSize), plaintext, associatedData);
            return plaintext;
        }
        catch (CryptographicException)
        {
            CryptographicOperations.ZeroMemory(plaintext);
            return null;
        }
    }

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
