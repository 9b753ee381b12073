using System;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace M3ter.Auth;

/// <summary>
/// Whose token an <see cref="ISharedTokenCache"/> entry holds: the base address and credentials of one registration,
/// with keys derived from its API secret (HKDF-SHA256), so that a cache can name and encrypt its entries without
/// storing the secret, the access key id or the token, and without a key ring to share.
/// </summary>
/// <remarks>
/// Processes configured with the same base address, key and secret derive the same keys, so they share one entry; a
/// rotated secret derives other keys, so entries written under the old one become unreachable. Neither
/// <see cref="ToString"/> nor any member returns the secret.
/// </remarks>
public sealed class SharedTokenScope
{
    private static readonly byte[] Salt = Encoding.UTF8.GetBytes("M3ter.Auth shared token cache v1");
    private readonly byte[] _pseudoRandomKey;

    /// <summary>Initializes a new instance of the <see cref="SharedTokenScope"/> class.</summary>
    /// <param name="baseAddress">m3ter's base address the token is for.</param>
    /// <param name="accessKeyId">The access key id the token was obtained with.</param>
    /// <param name="apiSecret">Its API secret: the root of the derived keys; not kept.</param>
    /// <param name="leaseOwner">Who holds a lease taken with this scope; a new random id when null.</param>
    /// <exception cref="ArgumentNullException">An argument other than <paramref name="leaseOwner"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="accessKeyId"/> or <paramref name="apiSecret"/> is empty.</exception>
    public SharedTokenScope(Uri baseAddress, string accessKeyId, string apiSecret, string? leaseOwner = null)
    {
        BaseAddress = baseAddress ?? throw new ArgumentNullException(nameof(baseAddress));
        if (accessKeyId is null)
        {
            throw new ArgumentNullException(nameof(accessKeyId));
        }

        if (apiSecret is null)
        {
            throw new ArgumentNullException(nameof(apiSecret));
        }

        if (accessKeyId.Length == 0 || apiSecret.Length == 0)
        {
            throw new ArgumentException("The access key id and the API secret must not be empty.", accessKeyId.Length == 0 ? nameof(accessKeyId) : nameof(apiSecret));
        }

        AccessKeyId = accessKeyId;
        LeaseOwner = leaseOwner ?? Guid.NewGuid().ToString("N");

        // HKDF-Extract (RFC 5869): the secret as input keying material under a fixed salt.
        using var extract = new HMACSHA256(Salt);
        _pseudoRandomKey = extract.ComputeHash(Encoding.UTF8.GetBytes(apiSecret));
    }

    /// <summary>Gets m3ter's base address the token is for.</summary>
    public Uri BaseAddress { get; }

    /// <summary>Gets the access key id the token is obtained with. Not secret, but keep it out of cache keys and values too.</summary>
    public string AccessKeyId { get; }

    /// <summary>Gets the id of the lease holder (one per provider), for compare-and-delete release.</summary>
    public string LeaseOwner { get; }

    /// <summary>Derives a key from the API secret for one purpose (HKDF-SHA256, RFC 5869).</summary>
    /// <param name="purpose">What the key is for, for example <c>entry-name</c> or <c>entry-encryption</c>: different purposes give unrelated keys.</param>
    /// <param name="length">The key's length in bytes, 1 to 8,160.</param>
    /// <returns>The key.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="purpose"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is out of range.</exception>
    public byte[] DeriveKey(string purpose, int length)
    {
        if (purpose is null)
        {
            throw new ArgumentNullException(nameof(purpose));
        }

        if (length is < 1 or > 255 * 32)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, "A derived key is 1 to 8,160 bytes long.");
        }

        // HKDF-Expand: T(i) = HMAC(PRK, T(i-1) | info | i).
        byte[] info = Encoding.UTF8.GetBytes(purpose);
        var output = new byte[length];
        using var expand = new HMACSHA256(_pseudoRandomKey);
        byte[] previous = Array.Empty<byte>();
        for (int i = 1, written = 0; written < length; i++)
        {
            var block = new byte[previous.Length + info.Length + 1];
            Buffer.BlockCopy(previous, 0, block, 0, previous.Length);
            Buffer.BlockCopy(info, 0, block, previous.Length, info.Length);
            block[block.Length - 1] = (byte)i;
            previous = expand.ComputeHash(block);
            int take = Math.Min(previous.Length, length - written);
            Buffer.BlockCopy(previous, 0, output, written, take);
            written += take;
        }

        return output;
    }

    /// <summary>Returns a description that shows the base address only: never the key id, the secret or a derived key.</summary>
    /// <returns>For example <c>SharedTokenScope { BaseAddress = https://api.m3ter.com/ }</c>.</returns>
    public override string ToString() => string.Format(CultureInfo.InvariantCulture, "SharedTokenScope {{ BaseAddress = {0} }}", BaseAddress);
}
