using System;
using System.Net;

namespace M3ter.Auth;

/// <summary>
/// The exception thrown when no m3ter access token can be obtained: the credentials were rejected, the token endpoint
/// failed or timed out after retries, or it answered with something that is not a token.
/// </summary>
/// <remarks>The message says what failed and why; it never contains a secret or a token.</remarks>
public class M3terAuthException : Exception
{
    /// <summary>Initializes a new instance of the <see cref="M3terAuthException"/> class.</summary>
    public M3terAuthException()
        : base("An m3ter access token could not be obtained.")
    {
    }

    /// <summary>Initializes a new instance of the <see cref="M3terAuthException"/> class with a message.</summary>
    /// <param name="message">What failed and why.</param>
    public M3terAuthException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="M3terAuthException"/> class with a message and its cause.</summary>
    /// <param name="message">What failed and why.</param>
    /// <param name="innerException">The exception that caused this one.</param>
    public M3terAuthException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="M3terAuthException"/> class with the token endpoint's answer.</summary>
    /// <param name="message">What failed and why.</param>
    /// <param name="statusCode">The HTTP status the token endpoint returned, if it returned one.</param>
    /// <param name="error">The error code the server sent (<c>error</c>), if any.</param>
    /// <param name="errorDescription">The error description the server sent (<c>error_description</c> or <c>message</c>), if any.</param>
    /// <param name="innerException">The exception that caused this one.</param>
    public M3terAuthException(string message, HttpStatusCode? statusCode, string? error, string? errorDescription, Exception? innerException = null)
        : base(message, innerException)
    {
        StatusCode = statusCode;
        Error = error;
        ErrorDescription = errorDescription;
    }

    /// <summary>Gets the HTTP status code the token endpoint returned, or <see langword="null"/> when no response arrived.</summary>
    public HttpStatusCode? StatusCode { get; }

    /// <summary>Gets the OAuth error code the server sent (for example <c>invalid_client</c>), if any.</summary>
    public string? Error { get; }

    /// <summary>Gets the server's description of the error (<c>error_description</c> or <c>message</c>), if any.</summary>
    public string? ErrorDescription { get; }

    /// <summary>Gets a value indicating whether the token endpoint rejected the credentials (400, 401 or 403): retrying will not help until they change.</summary>
    public bool IsCredentialRejection => StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden;

    /// <summary>Gets a value indicating whether the failure lasts until the configuration changes (an expired pre-issued token), like a rejection.</summary>
    internal bool IsPermanent { get; init; }

    /// <summary>Gets a value indicating whether the token asked for would have gone to hosts its credentials no longer belong to (a tenant moved to another server).</summary>
    internal bool ForOtherHosts { get; init; }

    /// <summary>Gets a value indicating whether the provider remembers this failure instead of asking again at once.</summary>
    internal bool IsRemembered => IsCredentialRejection || IsPermanent;

    /// <summary>
    /// A copy of this exception for one caller: the same message, status, error and inner exception (so a caller
    /// inspecting it sees what the original says), thrown fresh. A failure shared by many callers (a remembered
    /// rejection, one failed request many waited on) must not be rethrown as one instance: every throw appends to its
    /// stack trace, which then grows without bound.
    /// </summary>
    internal M3terAuthException ForCaller() =>
        new(Message, StatusCode, Error, ErrorDescription, InnerException) { IsPermanent = IsPermanent };
}
