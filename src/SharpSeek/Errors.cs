namespace SharpSeek;

/// <summary>
/// An error the user can cause and fix (bad file, bad config, bad flag). Carries one clear sentence;
/// the CLI prints it to stderr and exits 2. Bugs are never wrapped in this type.
/// </summary>
public class SharpSeekException : Exception
{
    public SharpSeekException(string message) : base(message) { }
    public SharpSeekException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>An inconsistent or unsupported model/training configuration.</summary>
public sealed class ConfigException : SharpSeekException
{
    public ConfigException(string message) : base(message) { }
}

/// <summary>A checkpoint (safetensors, config.json, index) that is missing, corrupt or does not match the model.</summary>
public sealed class CheckpointException : SharpSeekException
{
    public CheckpointException(string message) : base(message) { }
    public CheckpointException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A tokenizer file that is missing or malformed, or text/ids a tokenizer cannot handle.</summary>
public sealed class TokenizerException : SharpSeekException
{
    public TokenizerException(string message) : base(message) { }
}

/// <summary>Invalid generation request: sampling values out of range, prompt too long, and the like.</summary>
public sealed class GenerationException : SharpSeekException
{
    public GenerationException(string message) : base(message) { }
}

/// <summary>A data set or corpus problem: empty corpus, too short for the block size, vocabulary too large.</summary>
public sealed class DataException : SharpSeekException
{
    public DataException(string message) : base(message) { }
}
