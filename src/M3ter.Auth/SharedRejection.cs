using System;
using System.Net;

namespace M3ter.Auth;

/// <summary>
/// m3ter's refusal of one registration's credentials, as one process of a fleet shares it with the others through an
/// <see cref="ISharedRejectionCache"/>: when it was refused, with what status and error code, and until when the
/// others should not ask again.
/// </summary>
/// <remarks>It holds no secret, no token and no server text beyond the OAuth error code, which is cut to the characters an error code may have.</remarks>
public sealed class SharedRejection
{
    /// <summary>The longest error code kept: OAuth's are short words (<c>invalid_client</c>).</summary>
    private const int MaxErrorLength = 64;

    /// <summary>Initializes a new instance of the <see cref="SharedRejection"/> class.</summary>
    /// <param name="statusCode">The status the token endpoint answered with (400, 401 or 403 for refused credentials).</param>
    /// <param name="error">The OAuth error code it sent, if any; anything but letters, digits, <c>_</c>, <c>-</c> and <c>.</c> is dropped, and it is cut to 64 characters.</param>
    /// <param name="refusedAt">When it refused them.</param>
    /// <param name="until">Until when the other processes take the refusal as theirs instead of asking m3ter again.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="until"/> is before <paramref name="refusedAt"/>.</exception>
    public SharedRejection(HttpStatusCode statusCode, string? error, DateTimeOffset refusedAt, DateTimeOffset until)
    {
        if (until < refusedAt)
        {
            throw new ArgumentOutOfRangeException(nameof(until), until, "A rejection cannot end before it was made.");
        }

        StatusCode = statusCode;
        Error = Clean(error);
        RefusedAt = refusedAt;
        Until = until;
    }

    /// <summary>Gets the status the token endpoint answered with.</summary>
    public HttpStatusCode StatusCode { get; }

    /// <summary>Gets the OAuth error code it sent (cleaned), or <see langword="null"/>.</summary>
    public string? Error { get; }

    /// <summary>Gets when m3ter refused the credentials.</summary>
    public DateTimeOffset RefusedAt { get; }

    /// <summary>Gets until when the refusal stands for the fleet.</summary>
    public DateTimeOffset Until { get; }

    private static string? Clean(string? error)
    {
        if (string.IsNullOrEmpty(error))
        {
            return null;
        }

        var kept = new char[Math.Min(error!.Length, MaxErrorLength)];
        int length = 0;
        foreach (char c in error)
        {
            if (length == kept.Length)
            {
                break;
            }

            if (c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_' or '-' or '.')
            {
                kept[length++] = c;
            }
        }

        return length == 0 ? null : new string(kept, 0, length);
    }
}
