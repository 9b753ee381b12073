using System;
using System.Collections.Generic;
using System.Globalization;

namespace M3ter.Auth.Tool;

/// <summary>The command line, parsed by hand (no reflection, so the tool publishes with Native AOT).</summary>
internal sealed class ToolArguments
{
    public string Command { get; private set; } = "help";

    /// <summary>Options for the token commands, by name; a flag's value wins over the environment.</summary>
    public string? AccessKeyId { get; private set; }

    public string? ApiSecret { get; private set; }

    public Uri? BaseUrl { get; private set; }

    public string? OrganizationId { get; private set; }

    public TimeSpan? Timeout { get; private set; }

    public int? Retries { get; private set; }

    public bool Header { get; private set; }

    /// <summary>The emulator's flags, passed on as they are.</summary>
    public IReadOnlyList<string> Rest { get; private set; } = [];

    /// <summary>Parses <paramref name="args"/>, or throws <see cref="ArgumentException"/> naming the flag that is wrong (never its value when it is a secret).</summary>
    public static ToolArguments Parse(string[] args)
    {
        var parsed = new ToolArguments();
        if (args.Length == 0)
        {
            return parsed;
        }

        parsed.Command = args[0] switch
        {
            "token" or "check" or "emulator" => args[0],
            "-h" or "--help" or "help" => "help",
            "--version" or "version" => "version",
            _ => throw new ArgumentException($"unknown command '{args[0]}': use token, check or emulator (m3ter-auth --help)."),
        };

        if (parsed.Command == "emulator")
        {
            parsed.Rest = args[1..];
            return parsed;
        }

        for (int i = 1; i < args.Length; i++)
        {
            (string flag, string? inline) = Split(args[i]);
            string Value() => inline
                ?? (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal)
                    ? args[++i]
                    : throw new ArgumentException($"{flag} needs a value (one that starts with -- is given as {flag}=VALUE)."));

            switch (flag)
            {
                case "--key":
                    parsed.AccessKeyId = Value();
                    break;
                case "--secret":
                    parsed.ApiSecret = Value();
                    break;
                case "--base-url":
                    string url = Value();
                    parsed.BaseUrl = Uri.TryCreate(url, UriKind.Absolute, out Uri? address) && (address.Scheme == Uri.UriSchemeHttps || address.Scheme == Uri.UriSchemeHttp)
                        ? address
                        : throw new ArgumentException($"--base-url must be an absolute http(s) address, but it is '{url}'.");
                    break;
                case "--org":
                    parsed.OrganizationId = Value();
                    break;
                case "--timeout":
                    string seconds = Value();
                    parsed.Timeout = double.TryParse(seconds, NumberStyles.Float, CultureInfo.InvariantCulture, out double s) && s > 0 && s <= 300
                        ? TimeSpan.FromSeconds(s)
                        : throw new ArgumentException($"--timeout must be a number of seconds above 0 and at most 300, but it is '{seconds}'.");
                    break;
                case "--retries":
                    string retries = Value();
                    parsed.Retries = int.TryParse(retries, NumberStyles.None, CultureInfo.InvariantCulture, out int r) && r <= 10
                        ? r
                        : throw new ArgumentException($"--retries must be a whole number from 0 to 10, but it is '{retries}'.");
                    break;
                case "--header" when parsed.Command == "token" && inline is null:
                    parsed.Header = true;
                    break;
                case "-h" or "--help":
                    parsed.Command = "help";
                    return parsed;
                default:
                    throw Unexpected(args[i], parsed.Command);
            }
        }

        return parsed;
    }

    /// <summary>"--name=value" as ("--name", "value"); anything else as (itself, null).</summary>
    internal static (string Flag, string? Inline) Split(string arg)
    {
        int equals = arg.StartsWith("--", StringComparison.Ordinal) ? arg.IndexOf('=', StringComparison.Ordinal) : -1;
        return equals > 2 ? (arg[..equals], arg[(equals + 1)..]) : (arg, null);
    }

    /// <summary>
    /// The error for an argument that is not expected. It never shows the argument: one that is not an option is most
    /// often a value whose flag is missing, and one that looks like an option may be a secret that starts with "--".
    /// </summary>
    internal static ArgumentException Unexpected(string arg, string command) =>
        new(arg.StartsWith("-", StringComparison.Ordinal)
            ? $"unknown option for '{command}' (not shown: it may be a value, a secret even; m3ter-auth --help lists the options, and a value that starts with -- is given as --flag=VALUE)."
            : $"unexpected argument for '{command}' (not shown: it may be a value whose flag is missing; m3ter-auth --help).");

    /// <summary>Whether a key or a secret was given on the command line: then they are the credentials, whatever the environment holds.</summary>
    public bool HasCredentialFlags => AccessKeyId is not null || ApiSecret is not null;

    /// <summary>Applies the flags given on top of what <c>AddM3terAuth()</c> read from the environment.</summary>
    public void ApplyTo(M3terAuthOptions options)
    {
        // Only what a flag gives is set: setting an option replaces (and forgives) a bad value the environment gave it.
        if (AccessKeyId is not null)
        {
            options.AccessKeyId = AccessKeyId;
        }

        if (ApiSecret is not null)
        {
            options.ApiSecret = ApiSecret;
        }

        if (OrganizationId is not null)
        {
            options.OrganizationId = OrganizationId;
        }

        if (HasCredentialFlags)
        {
            // A pre-issued token (M3TER_API_TOKEN) would win over a key and a secret: the flags are what was asked for.
            options.AccessToken = null;
        }

        if (BaseUrl is not null)
        {
            options.BaseAddress = BaseUrl;
        }

        if (Timeout is TimeSpan timeout)
        {
            options.TokenRequestTimeout = timeout;
        }

        if (Retries is int retries)
        {
            options.MaxRetryAttempts = retries;
        }

        // A command line waits for nobody: it asks once per run, and never warms up in the background.
        options.WarmUpOnStart = false;
    }
}
