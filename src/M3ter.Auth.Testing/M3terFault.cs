using System;
using System.Globalization;
using System.Net;

namespace M3ter.Auth.Testing;

/// <summary>A fault the <see cref="M3terEmulator"/> injects into a token endpoint response.</summary>
public sealed class M3terFault
{
    private M3terFault(M3terFaultKind kind)
    {
        Kind = kind;
    }

    /// <summary>Gets what kind of fault this is.</summary>
    public M3terFaultKind Kind { get; }

    /// <summary>Gets the status code sent, for <see cref="M3terFaultKind.Response"/>.</summary>
    public HttpStatusCode StatusCode { get; private init; } = HttpStatusCode.OK;

    /// <summary>Gets the body sent, for <see cref="M3terFaultKind.Response"/> and <see cref="M3terFaultKind.ResetMidResponse"/>.</summary>
    public string? Body { get; private init; }

    /// <summary>Gets the content type of <see cref="Body"/>.</summary>
    public string ContentType { get; private init; } = "application/json";

    /// <summary>Gets the raw <c>Retry-After</c> header value sent, if any.</summary>
    public string? RetryAfter { get; private init; }

    /// <summary>Gets how long the emulator waits before answering (for <see cref="M3terFaultKind.Delay"/>, then it answers normally).</summary>
    public TimeSpan Delay { get; private init; }

    /// <summary>A response with the given status and body instead of a token.</summary>
    /// <param name="statusCode">The status code.</param>
    /// <param name="body">The body; none when null.</param>
    /// <param name="contentType">The body's content type.</param>
    /// <returns>The fault.</returns>
    public static M3terFault Status(HttpStatusCode statusCode, string? body = null, string contentType = "application/json") =>
        new(M3terFaultKind.Response) { StatusCode = statusCode, Body = body, ContentType = contentType };

    /// <summary>A 429 or 503 (or other) response with a <c>Retry-After</c> header in seconds.</summary>
    /// <param name="statusCode">The status code.</param>
    /// <param name="retryAfter">The delay to ask for.</param>
    /// <returns>The fault.</returns>
    public static M3terFault RetryAfterSeconds(HttpStatusCode statusCode, TimeSpan retryAfter) =>
        new(M3terFaultKind.Response) { StatusCode = statusCode, RetryAfter = ((long)retryAfter.TotalSeconds).ToString(CultureInfo.InvariantCulture) };

    /// <summary>A 429 or 503 (or other) response with a <c>Retry-After</c> header as an HTTP date.</summary>
    /// <param name="statusCode">The status code.</param>
    /// <param name="retryAt">The moment to ask for.</param>
    /// <returns>The fault.</returns>
    public static M3terFault RetryAfterDate(HttpStatusCode statusCode, DateTimeOffset retryAt) =>
        new(M3terFaultKind.Response) { StatusCode = statusCode, RetryAfter = retryAt.ToString("r", CultureInfo.InvariantCulture) };

    /// <summary>A 200 response with the given body: HTML, truncated JSON, JSON without a token…</summary>
    /// <param name="body">The body.</param>
    /// <param name="contentType">The body's content type.</param>
    /// <returns>The fault.</returns>
    public static M3terFault Ok(string body, string contentType = "application/json") =>
        new(M3terFaultKind.Response) { StatusCode = HttpStatusCode.OK, Body = body, ContentType = contentType };

    /// <summary>Waits before answering normally (longer than the client's timeout, to test it).</summary>
    /// <param name="delay">How long to wait.</param>
    /// <returns>The fault.</returns>
    public static M3terFault Slow(TimeSpan delay) => new(M3terFaultKind.Delay) { Delay = delay };

    /// <summary>Drops the connection without any response.</summary>
    /// <returns>The fault.</returns>
    public static M3terFault Reset() => new(M3terFaultKind.Reset);

    /// <summary>Sends the headers and part of a token body, then drops the connection.</summary>
    /// <returns>The fault.</returns>
    public static M3terFault ResetMidResponse() =>
        new(M3terFaultKind.ResetMidResponse) { Body = "{\"access_token\":\"abc" };

    /// <inheritdoc />
    public override string ToString() => Kind switch
    {
        M3terFaultKind.Response => string.Format(CultureInfo.InvariantCulture, "{0} {1}", (int)StatusCode, Body is null ? "(no body)" : Body.Length + " bytes"),
        M3terFaultKind.Delay => "delay " + Delay,
        _ => Kind.ToString(),
    };
}
